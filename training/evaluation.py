"""mAP of precomputed detections (e.g. MOT ``det.txt``) against a dataset split's labels.

Scores a detector we cannot run (the ACF teacher shipped with MOT sequences) on exactly the frames
and with the same matching and AP code as ultralytics' validator, so the teacher and the student
are compared like for like.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.datasets import split_frames
from training.labels import Box
from training.trainer import EvalResult

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``(M, 4)`` and ``(N, 4)`` xyxy boxes as an ``(M, N)`` matrix."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area_a = (a[:, 2:] - a[:, :2]).prod(1)
    area_b = (b[:, 2:] - b[:, :2]).prod(1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9)


@dataclass(frozen=True)
class IdentityScore:
    """How well tracks keep the identities of ground-truth people.

    ``idf1`` (Ristani et al. 2016) with its precision ``idp`` and recall ``idr``; ``switches``
    counts the times a person's matched track id changed from the one before (IoU >= 0.5, best
    box per person), ``track_ids`` the distinct confirmed ids. On one sequence IDF1 can swing on a
    few long swaps, so the counts are reported beside it.
    """

    idf1: float
    idp: float
    idr: float
    switches: int
    track_ids: int


def identity_score(
    frames: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
) -> IdentityScore:
    """:class:`IdentityScore` of tracks against ground-truth identities.

    ``frames`` yields ``(gt_xyxy, gt_ids, track_xyxy, track_ids)`` per frame. A box pair counts
    at IoU >= 0.5; IDF1 is twice the pairs kept by the best one-to-one gt-to-track id mapping,
    over all gt and track boxes.

    Example:
        >>> a, b = np.array([[0, 0, 10, 10.0]]), np.array([[20, 20, 30, 30.0]])
        >>> frame = lambda ids: (np.vstack([a, b]), np.array([1, 2]), np.vstack([a, b]), ids)
        >>> identity_score([frame(np.array([7, 8])), frame(np.array([7, 8]))]).idf1
        1.0
        >>> s = identity_score([frame(np.array([7, 8])), frame(np.array([8, 7]))])  # ids swap
        >>> s.idf1, s.switches, s.track_ids
        (0.5, 2, 2)
    """
    from scipy.optimize import linear_sum_assignment

    together: Counter[tuple[int, int]] = Counter()
    last: dict[int, int] = {}
    n_gt = n_tracked = switches = 0
    seen: set[int] = set()
    for gt_xyxy, gt_ids, xyxy, ids in frames:
        n_gt, n_tracked = n_gt + len(gt_ids), n_tracked + len(ids)
        seen.update(int(t) for t in ids)
        if not (len(gt_ids) and len(ids)):
            continue
        iou = box_iou(gt_xyxy, xyxy)
        for g, t in zip(*np.nonzero(iou >= 0.5), strict=True):
            together[(int(gt_ids[g]), int(ids[t]))] += 1
        for g, t in enumerate(iou.argmax(1)):
            if iou[g, t] >= 0.5:
                person, track = int(gt_ids[g]), int(ids[t])
                switches += person in last and last[person] != track
                last[person] = track
    if not together:
        return IdentityScore(0.0, 0.0, 0.0, switches, len(seen))
    people, tracks = sorted({p for p, _ in together}), sorted({t for _, t in together})
    counts = np.array([[together[(p, t)] for t in tracks] for p in people])
    rows, cols = linear_sum_assignment(-counts)
    kept = float(counts[rows, cols].sum())
    return IdentityScore(
        2 * kept / (n_gt + n_tracked), kept / max(n_tracked, 1), kept / max(n_gt, 1),
        switches, len(seen),
    )  # fmt: skip


def pipeline_identity(
    pipe: Any, frames: Sequence[Any], truth: Callable[[Any], tuple[np.ndarray, np.ndarray]]
) -> IdentityScore:
    """:func:`identity_score` of a ``monitor.pipeline.Pipeline``'s detector and tracker over
    ``frames`` (batches of 8, as the batch driver runs); ``truth(frame)`` gives its gt
    ``(xyxy, ids)``."""

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        for i in range(0, len(frames), 8):
            chunk = frames[i : i + 8]
            for frame, dets in zip(chunk, pipe.detector.detect(chunk), strict=True):
                tracked = pipe.tracker.update(frame, dets)
                ids = tracked.tracker_id
                ids = np.full(len(tracked), -1) if ids is None else ids
                keep = ids >= 0  # boxes not (yet) on a confirmed track have id -1
                yield (*truth(frame), tracked.xyxy[keep], ids[keep])

    return identity_score(pairs())


def match(truth: Sequence[Box], preds: Sequence[Box]) -> np.ndarray:
    """``(N, 10)`` bool: prediction correct at each IoU threshold 0.5:0.95 (greedy by score).

    The same greedy rule as ultralytics' ``match_predictions``: predictions in descending score
    order each claim the best still-unclaimed target of their class, per threshold.
    """
    order = np.argsort([-p.score for p in preds], kind="stable")
    correct = np.zeros((len(preds), len(IOU_THRESHOLDS)), dtype=bool)
    if not truth or not preds:
        return correct
    t = np.array([[b.x1, b.y1, b.x2, b.y2] for b in truth])
    p = np.array([[preds[i].x1, preds[i].y1, preds[i].x2, preds[i].y2] for i in order])
    same = np.array([[tb.cls == preds[i].cls for i in order] for tb in truth])
    iou = box_iou(t, p) * same
    claimed = np.zeros((len(truth), len(IOU_THRESHOLDS)), dtype=bool)
    cols = np.arange(len(IOU_THRESHOLDS))
    for j in range(len(order)):
        available = np.where(claimed, 0.0, iou[:, j, None])
        k = available.argmax(0)
        correct[order[j]] = available[k, cols] >= IOU_THRESHOLDS
        claimed[k, cols] |= correct[order[j]]
    return correct


def evaluate_boxes(
    truth: Mapping[str, Sequence[Box]],
    preds: Mapping[str, Sequence[Box]],
    names: Mapping[int, str],
) -> EvalResult:
    """mAP50, mAP50-95 and per-class P/R/F1 of ``preds`` against ``truth`` (keyed by image)."""
    from ultralytics.utils.metrics import ap_per_class

    tps, confs, pcls, tcls = [], [], [], []
    for key, gt in truth.items():
        pr = list(preds.get(key, ()))
        tps.append(match(gt, pr))
        confs += [b.score for b in pr]
        pcls += [b.cls for b in pr]
        tcls += [b.cls for b in gt]
    tp = np.concatenate(tps) if tps else np.zeros((0, 10), bool)
    _, _, p, r, f1, ap, classes, *_ = ap_per_class(
        tp, np.array(confs), np.array(pcls), np.array(tcls), names=dict(names)
    )
    per_class = {
        names.get(int(c), str(int(c))): {
            "precision": round(float(p[i]), 4),
            "recall": round(float(r[i]), 4),
            "f1": round(float(f1[i]), 4),
            "map50": round(float(ap[i, 0]), 4),
            "map50_95": round(float(ap[i].mean()), 4),
        }
        for i, c in enumerate(classes)
    }
    return EvalResult(
        map50=round(float(ap[:, 0].mean()) if len(ap) else 0.0, 4),
        map50_95=round(float(ap.mean()) if len(ap) else 0.0, 4),
        precision=round(float(p.mean()) if len(p) else 0.0, 4),
        recall=round(float(r.mean()) if len(r) else 0.0, 4),
        per_class=per_class,
        images=len(truth),
        instances=len(tcls),
    )


def split_labels(data_yaml: str | Path, split: str = "test") -> dict[str, list[Box]]:
    """Boxes of every image of one split of a dataset written by ``training.datasets``, by stem."""
    return {fr.video: list(fr.boxes) for fr in split_frames(data_yaml, split, "scoring")}


def frame_of(stem: str) -> int:
    """Frame number of a dataset image stem ``<video>_<frame:06d>``."""
    return int(stem.rsplit("_", 1)[-1])
