"""Anomaly model training: normal-only fitting, threshold calibration, supervised fine-tuning.

Kept out of ``monitor.anomaly`` so the live path never imports scikit-learn. Inputs are clips as
lists of images (BGR or grey) in temporal order; reading footage from disk is the caller's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from monitor.anomaly import CUE_NAMES, NORMAL_WEIGHTS, AnomalyModel, smooth_causal
from monitor.anomaly.features import (
    FeatureParams,
    FrameFeatures,
    MotionExtractor,
    median_background,
)

Clip = Sequence[np.ndarray]
MIN_BAND_OBJECTS = 30  # fewer objects than this in a depth band: use the all-band statistics
# Cues the supervised mode weights: the object count is left out, it learns how crowded the
# labelled clips happened to be rather than what is anomalous (it lowered held-out AUC on Ped2).
SUPERVISED_CUES = (0, 1, 2, 4, 5)
MAX_WORK_WIDTH = 480  # pixels; keeps one camera's scoring well under 20 ms per frame on one core


def extract(background: np.ndarray, params: FeatureParams, clip: Clip) -> list[FrameFeatures]:
    """Features of every frame of one clip, computed causally from a fresh extractor."""
    ext = MotionExtractor(background, params)
    return [ext.step(image) for image in clip]


def _band_stats(
    feats: Sequence[Sequence[FrameFeatures]], params: FeatureParams, bands: int
) -> tuple[np.ndarray, np.ndarray]:
    speeds, bottoms = [], []
    for clip in feats:
        for f in clip:
            speeds += [o.speed for o in f.objects]
            bottoms += [o.bottom for o in f.objects]
    if len(speeds) < MIN_BAND_OBJECTS:
        raise ValueError(f"only {len(speeds)} moving objects in the normal footage; need more")
    s, y = np.asarray(speeds), np.asarray(bottoms)
    idx = np.minimum((y / params.height * bands).astype(int), bands - 1)
    mean = np.full(bands, s.mean())
    std = np.full(bands, s.std())
    for b in range(bands):
        if (idx == b).sum() >= MIN_BAND_OBJECTS:
            mean[b], std[b] = s[idx == b].mean(), s[idx == b].std()
    return mean, np.maximum(std, 0.05)


def raw_scores(model: AnomalyModel, feats: Sequence[FrameFeatures]) -> np.ndarray:
    """``(T,)`` unsmoothed scores of one clip's frames."""
    return np.array([model.raw_score(f) for f in feats])


def count_alerts(smoothed: np.ndarray, threshold: float, fps: float, cooldown_s: float) -> int:
    """Alerts a live stage would raise on one clip: a flagged frame once the cooldown has passed."""
    count, last = 0, -np.inf
    for t in np.flatnonzero(smoothed >= threshold):
        if (t - last) / fps >= cooldown_s:
            count, last = count + 1, float(t)
    return count


def calibrate_threshold(
    smoothed: Sequence[np.ndarray], fps: float, target_per_hour: float, cooldown_s: float
) -> float:
    """Lowest threshold at which normal footage raises at most ``target_per_hour`` alerts per hour.

    With less normal footage than one alert's worth (``hours * target < 1``) no alert is allowed,
    which puts the threshold just above the highest normal score.
    """
    hours = sum(len(s) for s in smoothed) / fps / 3600.0
    allowed = target_per_hour * hours
    values = np.concatenate(smoothed)
    top = float(values.max())
    spread = float(values.std()) or 1.0
    best = top + 0.05 * spread  # no alert at all on the normal footage
    cands = np.unique(np.quantile(values, np.linspace(0.5, 1.0, 501)))[::-1]
    for cand in cands:
        n = sum(count_alerts(s, float(cand), fps, cooldown_s) for s in smoothed)
        if n > allowed:
            break
        best = float(cand)
    return best


def _finish(
    model: AnomalyModel,
    normal_feats: Sequence[Sequence[FrameFeatures]],
    target_per_hour: float,
    cooldown_s: float,
) -> AnomalyModel:
    smoothed = [smooth_causal(raw_scores(model, f), model.sigma) for f in normal_feats]
    thr = calibrate_threshold(smoothed, model.fps, target_per_hour, cooldown_s)
    scale = max(float(np.concatenate(smoothed).std()), 1e-6)
    calib = {"target_alerts_per_hour": target_per_hour, "cooldown_s": cooldown_s,
             "normal_frames": int(sum(len(s) for s in smoothed))}  # fmt: skip
    return replace(model, threshold=thr, scale=scale, meta={**model.meta, "calibration": calib})


def fit_normal(
    clips: Sequence[Clip],
    *,
    fps: float,
    params: FeatureParams | None = None,
    bands: int = 8,
    sigma: float = 5.0,
    target_per_hour: float = 1.0,
    cooldown_s: float = 10.0,
    meta: dict[str, Any] | None = None,
) -> tuple[AnomalyModel, list[list[FrameFeatures]]]:
    """Learn a camera's normal motion from normal-only clips; returns the model and their features.

    Args:
        clips: Normal footage, each clip a list of images in temporal order.
        fps: Frame rate of the footage.
        params: Feature settings; defaults to the working size of the first frame.
        bands: Horizontal depth bands with their own normal object speed.
        sigma: Temporal smoothing width in frames (causal at run time).
        target_per_hour: False alerts per hour the threshold allows on this normal footage.
        cooldown_s: Cooldown between alerts, as the live stage applies it.
        meta: Provenance to store in the model file.
    """
    if not clips or not any(len(c) for c in clips):
        raise ValueError("no normal frames to train on")
    if params is None:
        h, w = clips[0][0].shape[:2]
        s = min(1.0, MAX_WORK_WIDTH / w)  # large frames are scored at a reduced working size
        params = FeatureParams(width=round(w * s), height=round(h * s))
    frames = [f for c in clips for f in c]
    background = median_background(frames, params)
    feats = [extract(background, params, c) for c in clips]
    band_mean, band_std = _band_stats(feats, params, bands)
    model = AnomalyModel(
        params, background, band_mean, band_std, np.zeros(3), np.ones(3),
        np.array(NORMAL_WEIGHTS), 0.0, 0.0, 1.0, sigma, fps, dict(meta or {}),
    )  # fmt: skip
    cells = np.array([f.cells.max() for c in feats for f in c])
    flows = np.array([f.flow_peak for c in feats for f in c])
    tops = np.array([max((model.object_z(o) for o in f.objects), default=0.0)
                     for c in feats for f in c])  # fmt: skip
    model = replace(
        model,
        cue_mean=np.array([cells.mean(), tops.mean(), flows.mean()]),
        cue_std=np.maximum(np.array([cells.std(), tops.std(), flows.std()]), 1e-6),
    )
    return _finish(model, feats, target_per_hour, cooldown_s), feats


def fine_tune(
    model: AnomalyModel,
    labeled: Sequence[tuple[Sequence[FrameFeatures], np.ndarray]],
    normal: Sequence[Sequence[FrameFeatures]],
    *,
    target_per_hour: float = 1.0,
    cooldown_s: float = 10.0,
    c: float = 1.0,
) -> AnomalyModel:
    """Supervised mode: learn the cue weights from frame labels (1 = anomalous) by logistic
    regression, with ``normal`` clips as extra normal frames; then recalibrate on ``normal``.
    """
    from sklearn.linear_model import LogisticRegression

    cols = list(SUPERVISED_CUES)
    xs = [model.cues(f)[cols] for clip, _ in labeled for f in clip] + [
        model.cues(f)[cols] for clip in normal for f in clip
    ]
    ys = np.concatenate([np.asarray(y) for _, y in labeled] + [np.zeros(len(n)) for n in normal])
    if len(np.unique(ys)) < 2:
        raise ValueError("supervised fine-tuning needs both normal and anomalous frames")
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=1000).fit(np.array(xs), ys)
    weights = np.zeros(len(CUE_NAMES))
    weights[cols] = lr.coef_[0]
    info = {"cues": [CUE_NAMES[i] for i in cols], "frames": len(ys), "anomalous": int(ys.sum())}
    meta = {**model.meta, "supervised": info}
    tuned = replace(model, weights=weights, bias=float(lr.intercept_[0]), meta=meta)
    return _finish(tuned, normal, target_per_hour, cooldown_s)
