"""Evaluation of the anomaly model on UCSD Ped2: frame-level ROC AUC, speed, baseline, supervised.

Protocol (the anchors' convention): train on the 16 normal-only Train clips, score every frame of
the 12 Test clips, pool the scores of all test frames (no per-clip normalisation) and compute one
frame-level ROC AUC against ``frame_labels_ped2.npy``. Scores are reported smoothed two ways: a
centred Gaussian (offline, 3 sigma frames of look-ahead) and the causal half-Gaussian the live
stage uses (past frames only).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.metrics import roc_auc_score, roc_curve

from monitor.anomaly import AnomalyModel, smooth_causal
from monitor.anomaly.features import FrameFeatures, cell_energy
from training.anomaly_footage import FootageClip, FootageError, read_clips


@dataclass(frozen=True)
class Ped2:
    """UCSD Ped2 split: normal-only train clips, test clips and their per-frame labels."""

    train: list[FootageClip]
    test: list[FootageClip]
    labels: list[np.ndarray]


def load_ped2(
    root: str | Path,
    train_clips: Sequence[int] | None = None,
    test_clips: Sequence[int] | None = None,
) -> Ped2:
    """Read Ped2 (``training/frames``, ``testing/frames``, ``frame_labels_ped2.npy``); clip
    numbers are 1-based and select a subset (None = all)."""
    r = Path(root)
    label_file = r / "frame_labels_ped2.npy"
    if not label_file.is_file():
        raise FootageError(f"Ped2 labels not found: {label_file}")
    train = read_clips(r / "training" / "frames")
    test = read_clips(r / "testing" / "frames")
    flat = np.load(label_file).reshape(-1)
    if sum(len(c.frames) for c in test) != len(flat):
        raise FootageError(f"{label_file}: {len(flat)} labels for a different number of frames")
    bounds = np.cumsum([0] + [len(c.frames) for c in test])
    labels = [flat[a:b].astype(int) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    if train_clips:
        train = [train[i - 1] for i in train_clips]
    if test_clips:
        test, labels = [test[i - 1] for i in test_clips], [labels[i - 1] for i in test_clips]
    return Ped2(train, test, labels)


def frame_difference_scores(clip: FootageClip, cell: int = 20) -> np.ndarray:
    """Baseline: per frame, the max over ``cell`` px cells of the mean absolute frame difference."""
    gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32) for f in clip.frames]
    out = [0.0] + [
        float(cell_energy(np.abs(b - a), cell).max())
        for a, b in zip(gray[:-1], gray[1:], strict=True)
    ]
    return np.array(out)


def score_clips(
    model: AnomalyModel, clips: Sequence[FootageClip]
) -> tuple[list[np.ndarray], list[list[FrameFeatures]], float]:
    """Raw scores and features of each clip, and the scoring speed in frames/s (decode excluded)."""
    scores, feats, n, t0 = [], [], 0, time.perf_counter()
    for clip in clips:
        ext = model.extractor()
        f = [ext.step(img) for img in clip.frames]
        scores.append(np.array([model.raw_score(x) for x in f]))
        feats.append(f)
        n += len(f)
    return scores, feats, n / max(time.perf_counter() - t0, 1e-9)


def stage_fps(model: AnomalyModel, clip: FootageClip) -> float:
    """Frames/s of the live stage on one clip: features, smoothing, explanation and heatmap."""
    from monitor.anomaly import AnomalyStage
    from monitor.config import AnomalyConfig
    from monitor.types import Frame

    stage = AnomalyStage(model, AnomalyConfig(enabled=True))
    frames = [Frame("fps", i, i / model.fps, img) for i, img in enumerate(clip.frames)]
    t0 = time.perf_counter()
    for f in frames:
        stage.alerts(f, stage.score(f))
    return len(frames) / max(time.perf_counter() - t0, 1e-9)


def auc_report(scores: Sequence[np.ndarray], labels: Sequence[np.ndarray], sigma: float) -> dict:
    """Pooled frame AUC (raw, centred, causal) and the mean per-clip AUC over clips with both
    classes (Ped2 test clips 8-11 are anomalous throughout and have no per-clip AUC)."""
    y = np.concatenate(labels)
    centred = [gaussian_filter1d(s, sigma) for s in scores]
    causal = [smooth_causal(s, sigma) for s in scores]
    per_clip = [float(roc_auc_score(lab, s)) if 0 < lab.mean() < 1 else None
                for lab, s in zip(labels, centred, strict=True)]  # fmt: skip
    valid = [a for a in per_clip if a is not None]
    return {
        "auc": float(roc_auc_score(y, np.concatenate(centred))),
        "auc_causal": float(roc_auc_score(y, np.concatenate(causal))),
        "auc_raw": float(roc_auc_score(y, np.concatenate(scores))),
        "auc_per_clip_mean": float(np.mean(valid)) if valid else None,
        "per_clip_clips": len(valid),
        "auc_per_clip": per_clip,
    }


def supervised_halves(
    model: AnomalyModel,
    test_feats: Sequence[list[FrameFeatures]],
    labels: Sequence[np.ndarray],
    train_feats: Sequence[list[FrameFeatures]],
) -> dict[str, Any]:
    """Fine-tune on one half of the test clips (+ Train as normal), score the other half; swap."""
    from training.anomaly_fit import fine_tune, raw_scores

    n = len(test_feats)
    halves = [list(range(n // 2)), list(range(n // 2, n))]
    out: dict[str, Any] = {}
    for name, (fit_idx, eval_idx) in (
        ("first_to_second", halves),
        ("second_to_first", halves[::-1]),
    ):
        tuned = fine_tune(model, [(test_feats[i], labels[i]) for i in fit_idx], train_feats)
        scores = [raw_scores(tuned, test_feats[i]) for i in eval_idx]
        rep = auc_report(scores, [labels[i] for i in eval_idx], model.sigma)
        rep["unsupervised_auc_same_clips"] = auc_report(
            [raw_scores(model, test_feats[i]) for i in eval_idx], [labels[i] for i in eval_idx],
            model.sigma,
        )["auc"]  # fmt: skip
        rep["weights"] = [round(float(w), 4) for w in tuned.weights]
        out[name] = rep
    out["mean_auc"] = float(
        np.mean([out[k]["auc"] for k in ("first_to_second", "second_to_first")])
    )
    return out


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path) -> Path:
    """Write ROC curves (name -> (labels, scores)) to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (y, s) in curves.items():
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, s):.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="UCSD Ped2 frame ROC")
    ax.legend(loc="lower right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def evaluate_ped2(
    data: Ped2,
    model: AnomalyModel,
    *,
    supervised: bool = True,
    roc_png: Path | None = None,
    train_feats: Sequence[list[FrameFeatures]] | None = None,
) -> dict[str, Any]:
    """Score the test clips with ``model`` and compare with the frame-difference baseline;
    ``train_feats`` (the Train clips' features, if already computed) saves a pass in supervised."""
    scores, feats, fps = score_clips(model, data.test)
    result: dict[str, Any] = {**auc_report(scores, data.labels, model.sigma), "fps": fps}
    result["fps_stage"] = stage_fps(model, data.test[0])
    result["latency_centred_s"] = float(np.ceil(3 * model.sigma) / model.fps)
    result["latency_causal_s"] = 1.0 / fps
    base = [frame_difference_scores(c) for c in data.test]
    result["baseline_frame_difference"] = auc_report(base, data.labels, model.sigma)
    result["model"] = {"version": model.meta.get("version"), "threshold": model.threshold}
    y = np.concatenate(data.labels)
    flagged = np.concatenate([smooth_causal(s, model.sigma) for s in scores]) >= model.threshold
    result["at_threshold"] = {"recall": float(flagged[y == 1].mean()),
                              "false_positive_rate": float(flagged[y == 0].mean())}  # fmt: skip
    if supervised:
        if train_feats is None:
            _, train_feats, _ = score_clips(model, data.train)
        result["supervised"] = supervised_halves(model, feats, data.labels, train_feats)
    if roc_png is not None:
        curves = {
            "model, centred": (
                y,
                np.concatenate([gaussian_filter1d(s, model.sigma) for s in scores]),
            ),
            "model, causal": (y, np.concatenate([smooth_causal(s, model.sigma) for s in scores])),
            "frame difference": (
                y,
                np.concatenate([gaussian_filter1d(s, model.sigma) for s in base]),
            ),
        }
        result["roc_png"] = str(plot_roc(curves, roc_png))
    result["test_frames"] = int(len(y))
    return result
