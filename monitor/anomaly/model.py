"""Learned model of a camera's normal motion: features to a calibrated score (the inference side).

The model (``AnomalyModel``) holds what training learned from normal footage: the empty-scene
background, each depth band's normal object speed, the normal range of the two frame cues, an
optional supervised weighting of the cues, and the alert threshold calibrated on normal footage.
Everything travels in one ``.npz`` file, so scoring needs no separate calibration (anomalib style).
Training lives in ``training.anomaly_fit``; this module is the small inference path.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from monitor.anomaly.features import FeatureParams, FrameFeatures, MotionExtractor, MotionObject
from monitor.registry import ModelNotFoundError, resolve_model

CUE_NAMES = (
    "motion_energy_z",
    "object_speed_z",
    "second_object_z",
    "objects_per_10",
    "max_aspect",
    "flow_peak_z",
)
NORMAL_WEIGHTS = (1.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # normal-only model: energy + object + flow cues
FORMAT = "video-monitor-anomaly/1"


class AnomalyModelError(ValueError):
    """An anomaly model file is unreadable or of another format; the message names it."""


@dataclass(frozen=True)
class AnomalyModel:
    """What the anomaly stage needs at run time, learned from one camera's footage.

    Args:
        params: Feature extractor settings used in training.
        background: ``(H, W)`` float32 empty scene at the working size.
        band_mean: ``(B,)`` normal object speed (px/frame) per horizontal depth band.
        band_std: ``(B,)`` its standard deviation per band.
        cue_mean: ``(3,)`` normal mean of the frame cues (max cell energy, max object z, flow
            peak).
        cue_std: ``(3,)`` their standard deviation.
        weights: ``(len(CUE_NAMES),)`` weights of the standardised cues (``NORMAL_WEIGHTS`` for
            normal-only training; supervised fine-tuning learns them).
        bias: Added to the weighted cues.
        threshold: Alert threshold on the causally smoothed raw score.
        scale: Spread of smoothed raw scores on normal footage; maps raw scores to [0, 1].
        sigma: Temporal smoothing width in frames.
        fps: Frame rate of the training footage (smoothing and false-alert rates use it).
        meta: JSON-serialisable provenance (camera, clips, calibration target, metrics).
    """

    params: FeatureParams
    background: np.ndarray = field(repr=False)
    band_mean: np.ndarray
    band_std: np.ndarray
    cue_mean: np.ndarray
    cue_std: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float
    scale: float
    sigma: float
    fps: float
    meta: dict[str, Any] = field(default_factory=dict)

    def band(self, y_bottom: float) -> int:
        """Depth band of an object standing at row ``y_bottom``."""
        n = len(self.band_mean)
        return int(min(max(y_bottom / self.params.height * n, 0), n - 1))

    def object_z(self, obj: MotionObject) -> float:
        """How many of its band's standard deviations an object is faster than normal."""
        b = self.band(obj.bottom)
        return float((obj.speed - self.band_mean[b]) / self.band_std[b])

    def cues(self, feats: FrameFeatures) -> np.ndarray:
        """``(len(CUE_NAMES),)`` standardised frame cues the raw score weights."""
        zs = sorted((self.object_z(o) for o in feats.objects), reverse=True)
        top = zs[0] if zs else 0.0
        second = zs[1] if len(zs) > 1 else 0.0
        aspect = max(((o.box[2] - o.box[0]) / max(o.box[3] - o.box[1], 1.0) for o in feats.objects),
                     default=0.0)  # fmt: skip
        return np.array(
            [
                (float(feats.cells.max()) - self.cue_mean[0]) / self.cue_std[0],
                (top - self.cue_mean[1]) / self.cue_std[1],
                (second - self.cue_mean[1]) / self.cue_std[1],
                len(feats.objects) / 10.0,
                aspect,
                (feats.flow_peak - self.cue_mean[2]) / self.cue_std[2],
            ],
            dtype=np.float64,
        )

    def raw_score(self, feats: FrameFeatures) -> float:
        """Unsmoothed anomaly score of one frame (higher = less like the training footage)."""
        return float(self.cues(feats) @ self.weights + self.bias)

    def normalise(self, smoothed: float) -> float:
        """Map a smoothed raw score to [0, 1], with the calibrated threshold at exactly 0.5."""
        return float(1.0 / (1.0 + np.exp(-(smoothed - self.threshold) / self.scale)))

    def with_threshold(self, threshold: float) -> AnomalyModel:
        """A copy with another alert threshold (on the smoothed raw score)."""
        return replace(self, threshold=float(threshold))

    def extractor(self) -> MotionExtractor:
        """A fresh causal feature extractor for one camera."""
        return MotionExtractor(self.background, self.params)

    def save(self, path: str | Path) -> Path:
        """Write the model to one ``.npz`` file (arrays + JSON header)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": FORMAT,
            "params": asdict(self.params),
            "bias": self.bias,
            "threshold": self.threshold,
            "scale": self.scale,
            "sigma": self.sigma,
            "fps": self.fps,
            "meta": self.meta,
        }
        arrays = {k: getattr(self, k) for k in ("band_mean", "band_std", "cue_mean", "cue_std")}
        with p.open("wb") as fh:
            np.savez_compressed(
                fh,
                header=np.array(json.dumps(header)),
                background=self.background.astype(np.uint8),
                weights=self.weights,
                **arrays,
            )
        return p

    @classmethod
    def load(cls, path: str | Path) -> AnomalyModel:
        """Read a model written by ``save``; AnomalyModelError naming the file otherwise."""
        p = Path(path)
        if not p.is_file():
            raise AnomalyModelError(f"anomaly model file not found: {p}")
        try:
            with np.load(p, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                arrays = {k: z[k].astype(np.float64) for k in z.files if k != "header"}
        except (OSError, ValueError, KeyError) as err:
            raise AnomalyModelError(f"{p}: not an anomaly model file ({err})") from None
        if header.get("format") != FORMAT:
            raise AnomalyModelError(f"{p}: format {header.get('format')!r}, expected {FORMAT!r}")
        return cls(
            params=FeatureParams(**header["params"]),
            background=arrays.pop("background").astype(np.float32),
            bias=float(header["bias"]),
            threshold=float(header["threshold"]),
            scale=float(header["scale"]),
            sigma=float(header["sigma"]),
            fps=float(header["fps"]),
            meta=header["meta"],
            **arrays,
        )


def causal_weights(sigma: float) -> np.ndarray:
    """Half-Gaussian weights over the current and past ``ceil(3 sigma)`` frames, newest first."""
    if sigma <= 0:
        return np.ones(1)
    k = np.arange(int(np.ceil(3 * sigma)) + 1)
    return np.exp(-0.5 * (k / sigma) ** 2)


def smooth_causal(raw: np.ndarray, sigma: float) -> np.ndarray:
    """Past-frames-only smoothing of one clip's raw scores (what the live stage computes)."""
    w = causal_weights(sigma)
    out = np.empty(len(raw))
    for t in range(len(raw)):
        past = raw[max(0, t - len(w) + 1) : t + 1][::-1]
        out[t] = float(past @ w[: len(past)] / w[: len(past)].sum())
    return out


def load_model(ref: str | Path | None, models_dir: str | Path | None = None) -> AnomalyModel:
    """A model from a ``.npz`` path, a registry version, or (None / ``promoted``) the registry's
    promoted anomaly model, found by the one resolver (``monitor.registry.resolve_model``)."""
    from monitor.registry import DEFAULT_MODELS_DIR

    try:
        path = resolve_model(ref, "anomaly", models_dir or DEFAULT_MODELS_DIR)
    except ModelNotFoundError as err:
        raise AnomalyModelError(str(err)) from None
    return AnomalyModel.load(path)
