"""Learned model of a camera's normal motion, and the live per-camera stage that scores frames.

The model (``AnomalyModel``) holds what training learned from normal footage: the empty-scene
background, each depth band's normal object speed, the normal range of the two frame cues, an
optional supervised weighting of the cues, and the alert threshold calibrated on normal footage.
Everything travels in one ``.npz`` file, so scoring needs no separate calibration (anomalib style).
Training lives in ``monitor.anomaly_train``; this module is the small inference path.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from monitor.anomaly_features import FeatureParams, FrameFeatures, MotionExtractor, MotionObject
from monitor.anomaly_report import explain, heatmap
from monitor.config import AnomalyConfig
from monitor.types import Alert, AnomalyScore, Detections, Frame

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
    """An anomaly model file is missing, unreadable or of another format; the message names it."""


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


@dataclass
class _CameraState:
    extractor: MotionExtractor
    history: deque[float]
    last_alert: float = -np.inf


class AnomalyStage:
    """Per-camera anomaly scoring and alerting for the pipeline.

    ``score`` extracts features, smooths causally and normalises; ``alerts`` turns a flagged score
    into one ``Alert(kind="anomaly")`` per cooldown, with its explanation and, when ``media_root``
    is set (and ``cfg.evidence``), an evidence heatmap PNG and (``snapshots``) a snapshot JPEG
    written to ``<media_root>/<camera>/alerts/<alert id>_{heatmap.png,snapshot.jpg}``; the
    alert's paths are relative to ``media_root``.

    Example:
        >>> stage = AnomalyStage(AnomalyModel.load("models/ucsd-ped2-anomaly-v1.npz"),
        ...                      AnomalyConfig(enabled=True))  # doctest: +SKIP
        >>> s = stage.score(frame)  # doctest: +SKIP
        >>> alerts = stage.alerts(frame, s)  # doctest: +SKIP
    """

    def __init__(
        self,
        model: AnomalyModel,
        cfg: AnomalyConfig,
        media_root: str | Path | None = None,
        snapshots: bool = True,
    ) -> None:
        self.model = model if cfg.threshold is None else model.with_threshold(cfg.threshold)
        self.cfg = cfg
        self.media_root = Path(media_root) if media_root and cfg.evidence else None
        self.snapshots = snapshots
        self._weights = causal_weights(model.sigma if cfg.sigma is None else cfg.sigma)
        self._cams: dict[str, _CameraState] = {}

    def _state(self, camera_id: str) -> _CameraState:
        if camera_id not in self._cams:
            hist: deque[float] = deque(maxlen=len(self._weights))
            self._cams[camera_id] = _CameraState(self.model.extractor(), hist)
        return self._cams[camera_id]

    def score(self, frame: Frame, detections: Detections | None = None) -> AnomalyScore:
        """Score one frame of its camera (frames of a camera must arrive in order)."""
        st = self._state(frame.camera_id)
        feats = st.extractor.step(frame.image, detections)
        st.history.appendleft(self.model.raw_score(feats))
        w = self._weights[: len(st.history)]
        smoothed = float(np.asarray(st.history) @ w / w.sum())
        ev = explain(self.model, feats, frame.shape)
        data = {"raw": st.history[0], "smoothed": smoothed, **ev.data}
        return AnomalyScore(
            self.model.normalise(smoothed),
            0.5,
            ev.text,
            heatmap(self.model, feats, frame.shape),
            data,
        )

    def alerts(self, frame: Frame, score: AnomalyScore) -> list[Alert]:
        """One alert when a score is flagged and the camera's cooldown has passed, else none."""
        st = self._state(frame.camera_id)
        if not score.flagged or frame.timestamp - st.last_alert < self.cfg.cooldown_s:
            return []
        st.last_alert = frame.timestamp
        alert = Alert(
            camera_id=frame.camera_id,
            kind="anomaly",
            rule=str(self.model.meta.get("version", "anomaly")),
            severity=self.cfg.severity,
            start_time=frame.timestamp,
            end_time=frame.timestamp,
            frame_index=frame.index,
            score=score.score,
            explanation=score.explanation,
            data={k: v for k, v in score.data.items() if isinstance(v, int | float | str | list)},
        )
        if self.media_root is not None and score.heatmap is not None:
            from monitor.anomaly_report import save_evidence

            folder = self.media_root / frame.camera_id / "alerts"
            snap, heat = save_evidence(folder, alert, frame.image, score.heatmap, self.snapshots)
            alert = alert.with_evidence(
                snapshot_path=str(snap.relative_to(self.media_root)) if snap else None,
                heatmap_path=str(heat.relative_to(self.media_root)),
            )
        return [alert]

    def reset(self, camera_id: str) -> None:
        """Forget a camera's history (new clip, reconnect)."""
        self._cams.pop(camera_id, None)


def load_model(ref: str | Path | None, models_dir: str | Path | None = None) -> AnomalyModel:
    """A model from a ``.npz`` path, a registry version, or (None / ``promoted``) the registry's
    promoted anomaly model; AnomalyModelError naming what is missing otherwise."""
    from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry

    if ref is not None and Path(ref).suffix == ".npz":
        return AnomalyModel.load(ref)
    reg = ModelRegistry(models_dir or DEFAULT_MODELS_DIR)
    try:
        mv = reg.promoted("anomaly") if ref in (None, "promoted") else reg.get(str(ref))
    except KeyError as err:
        raise AnomalyModelError(str(err.args[0])) from None
    if mv is None:
        raise AnomalyModelError(f"no anomaly model given and none promoted in {reg.file}")
    if mv.kind != "anomaly":
        raise AnomalyModelError(f"{mv.version} is a {mv.kind} model, not an anomaly model")
    return AnomalyModel.load(reg.resolve_path(mv))


def load_stage(
    cfg: AnomalyConfig,
    media_root: str | Path | None = None,
    models_dir: str | Path | None = None,
    snapshots: bool = False,
) -> AnomalyStage:
    """The stage a config asks for (``cfg.model``: ``.npz`` path, registry version or None for
    the promoted anomaly model), writing heatmaps under ``media_root``; no snapshots by default,
    the batch driver saves its own annotated one for every alert."""
    return AnomalyStage(load_model(cfg.model, models_dir), cfg, media_root, snapshots)
