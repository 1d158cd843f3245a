"""Accuracy columns of the throughput benchmark, read from `monitor batch` outputs.

Agreement of a mode's boxes with the full-detection reference (recall and precision at IoU 0.5,
conf >= the model's threshold), AP50 on ground truth (PETS gt.txt frames), and whether the alerts
are the same; plus a per-stage profile of one in-process run (decode .. write) for the table.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

Boxes = dict[int, np.ndarray]  # frame index -> (N, 5) xyxy + conf


def read_jsonl(path: Path, min_conf: float = 0.0) -> Boxes:
    """Per-frame boxes (xyxy + conf) of a detections.jsonl."""
    out: Boxes = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        rows = [[*b["xyxy"], b["conf"]] for b in rec["boxes"] if b["conf"] >= min_conf]
        out[rec["index"]] = np.asarray(rows, np.float64).reshape(-1, 5)
    return out


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:4] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:4] - b[:, :2], axis=1)
    return np.asarray(inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9))


def _greedy(pred: np.ndarray, truth: np.ndarray, thr: float) -> np.ndarray:
    """Per prediction (in confidence order): matched a yet-unmatched truth box at IoU >= thr."""
    hit = np.zeros(len(pred), bool)
    if not len(pred) or not len(truth):
        return hit
    m = iou(pred[:, :4], truth[:, :4])
    used = np.zeros(len(truth), bool)
    for i in np.argsort(-pred[:, 4], kind="stable"):
        cand = np.where(~used & (m[i] >= thr))[0]
        if len(cand):
            used[cand[m[i, cand].argmax()]] = True
            hit[i] = True
    return hit


def agreement(mode: Boxes, ref: Boxes, thr: float = 0.5) -> dict[str, float]:
    """Recall and precision of ``mode``'s boxes against the reference boxes, all frames pooled."""
    tp = n_pred = n_ref = 0
    for k in ref:
        pred = mode.get(k, np.zeros((0, 5)))
        tp += int(_greedy(pred, ref[k], thr).sum())
        n_pred += len(pred)
        n_ref += len(ref[k])
    return {"recall": round(tp / max(n_ref, 1), 4), "precision": round(tp / max(n_pred, 1), 4)}


def read_mot_gt(path: Path, first: int, last: int) -> Boxes:
    """MOT gt.txt boxes (considered ones) of 1-based frames first..last, keyed by 0-based index."""
    rows: dict[int, list[list[float]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        f, _, x, y, w, h, consider = (float(v) for v in line.split(",")[:7])
        if first <= f <= last and consider:
            rows[int(f) - 1].append([x, y, x + w, y + h, 1.0])
    return {k: np.asarray(v) for k, v in rows.items()}


def ap50(pred: Boxes, gt: Boxes) -> float:
    """AP at IoU 0.5, 101-point interpolated (COCO / ultralytics style), over the gt frames."""
    scores, hits, n_gt = [], [], 0
    for k, truth in gt.items():
        p = pred.get(k, np.zeros((0, 5)))
        hits.append(_greedy(p, truth, 0.5))
        scores.append(p[:, 4])
        n_gt += len(truth)
    conf, tp = np.concatenate(scores), np.concatenate(hits)
    order = np.argsort(-conf, kind="stable")
    ctp = np.cumsum(tp[order])
    recall = ctp / max(n_gt, 1)
    precision = ctp / np.arange(1, len(ctp) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    points = np.linspace(0, 1, 101)
    idx = np.searchsorted(recall, points, side="left")
    ok = idx < len(envelope)
    return float(np.round(np.where(ok, envelope[np.minimum(idx, len(envelope) - 1)], 0).mean(), 4))


def alert_keys(summary: Path) -> list[tuple[str, float]]:
    """(rule, start time rounded to 0.1 s) of each alert of a summary.json."""
    alerts = json.loads(summary.read_text()).get("alerts", [])
    return sorted((a["rule"], round(float(a["start_time"]), 1)) for a in alerts)


def alerts_match(
    a: list[tuple[str, float]], b: list[tuple[str, float]], tol_s: float = 1.0
) -> bool:
    """Same alerts up to timing: equal counts per rule and starts paired within ``tol_s``."""
    if sorted(r for r, _ in a) != sorted(r for r, _ in b):
        return False
    return all(abs(ta - tb) <= tol_s for (_, ta), (_, tb) in zip(sorted(a), sorted(b)))


class StageTimer:
    """Accumulates wall time per stage name; wraps callables and iterators."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = defaultdict(float)

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` with its time added to ``stage``."""

        def timed(*args: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kw)
            finally:
                self.ms[stage] += (time.perf_counter() - t0) * 1e3

        return timed

    def iterate(self, stage: str, it: Iterator[Any]) -> Iterator[Any]:
        """Items of ``it`` with the time spent producing them added to ``stage``."""
        while True:
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                return
            finally:
                self.ms[stage] += (time.perf_counter() - t0) * 1e3
            yield item
