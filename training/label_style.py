"""Annotation-style calibration: move teacher boxes' edges to where a video's human labels put them.

Teachers and human annotators agree on *where* a person is but not on how wide the box is (on
PETS the fused teacher boxes are ~13 % wider than the MOT ground truth: arms and shadows). A
student trained on both learns a blend and loses mAP50-95. Where a video has human labels on
some frames, the median offset of each edge (as a fraction of the teacher box's width or height)
between matched teacher and human boxes is fitted per class and applied to that video's teacher
boxes. Videos without human labels are left as the teachers drew them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from training.evaluation import box_iou
from training.labels import Box

__all__ = ["EdgeStyle", "apply_style", "fit_style"]


@dataclass(frozen=True)
class EdgeStyle:
    """Median edge offsets (x1, y1, x2, y2), as fractions of the teacher box's width/height.

    ``pairs`` is how many teacher/human box pairs were matched; ``iou_before`` / ``iou_after``
    their mean IoU before and after the shift (in-sample) and ``iou_heldout`` the mean IoU after a
    shift fitted without the pair's own frame (leave-one-frame-out).
    """

    offsets: tuple[float, float, float, float]
    pairs: int
    iou_before: float
    iou_after: float
    iou_heldout: float

    def shift(self, box: Box) -> Box:
        """``box`` with its edges moved by the offsets (unchanged if that would leave no area)."""
        return _shift(box, self.offsets)


def _shift(box: Box, d: Sequence[float]) -> Box:
    w, h = box.x2 - box.x1, box.y2 - box.y1
    x1, y1, x2, y2 = box.x1 + d[0] * w, box.y1 + d[1] * h, box.x2 + d[2] * w, box.y2 + d[3] * h
    return Box(box.cls, x1, y1, x2, y2, box.score) if x2 > x1 and y2 > y1 else box


def _pairs(teacher: Sequence[Box], human: Sequence[Box], min_iou: float) -> list[tuple[Box, Box]]:
    """Greedy one-to-one matches of teacher to human boxes of one class, best IoU first."""
    if not teacher or not human:
        return []
    iou = box_iou(np.array([[b.x1, b.y1, b.x2, b.y2] for b in teacher]),
                  np.array([[b.x1, b.y1, b.x2, b.y2] for b in human]))  # fmt: skip
    out, used_t, used_h = [], set(), set()
    for flat in np.argsort(-iou, axis=None):
        i, j = np.unravel_index(flat, iou.shape)
        if iou[i, j] < min_iou:
            break
        if i in used_t or j in used_h:
            continue
        used_t.add(i)
        used_h.add(j)
        out.append((teacher[i], human[j]))
    return out


def _offsets(pairs: Sequence[tuple[Box, Box]]) -> np.ndarray:
    """Per pair, the human edges minus the teacher edges over the teacher box's width/height."""
    rows = []
    for t, h in pairs:
        w, hh = t.x2 - t.x1, t.y2 - t.y1
        rows.append([(h.x1 - t.x1) / w, (h.y1 - t.y1) / hh, (h.x2 - t.x2) / w, (h.y2 - t.y2) / hh])
    return np.array(rows, dtype=float).reshape(-1, 4)


def _mean_iou(pairs: Sequence[tuple[Box, Box]], offsets: Sequence[float] | None) -> float:
    vals = []
    for t, h in pairs:
        s = _shift(t, offsets) if offsets is not None else t
        vals.append(box_iou(np.array([[s.x1, s.y1, s.x2, s.y2]]),
                            np.array([[h.x1, h.y1, h.x2, h.y2]]))[0, 0])  # fmt: skip
    return float(np.mean(vals)) if vals else 0.0


def _median(pairs: Sequence[tuple[Box, Box]]) -> tuple[float, float, float, float]:
    """Median edge offsets of ``pairs`` (zeros when there are none)."""
    offsets = _offsets(pairs)
    m = np.median(offsets, axis=0) if len(offsets) else np.zeros(4)
    return (float(m[0]), float(m[1]), float(m[2]), float(m[3]))


def fit_style(
    teacher: Mapping[tuple[str, int], Sequence[Box]],
    human: Mapping[str, Mapping[int, Sequence[Box]]],
    min_iou: float = 0.5,
    min_pairs: int = 20,
) -> dict[tuple[str, int], EdgeStyle]:
    """``(video, class) -> EdgeStyle`` for each video and class with ``min_pairs`` matched boxes.

    Args:
        teacher: Teacher boxes per ``(video, frame)`` (e.g. after label repair).
        human: ``video -> frame -> boxes`` of human labels on some of the same frames.
        min_iou: A teacher and a human box pair up only at this IoU or more.
        min_pairs: Fewer matched pairs than this fit nothing (too few to trust a median).
    """
    out: dict[tuple[str, int], EdgeStyle] = {}
    for video, frames in human.items():
        by_frame: dict[int, dict[int, list[tuple[Box, Box]]]] = {}
        for frame, gt in frames.items():
            tb = teacher.get((video, frame))
            if tb is None:
                continue
            for cls in {b.cls for b in gt}:
                mine = [b for b in tb if b.cls == cls]
                theirs = [b for b in gt if b.cls == cls]
                by_frame.setdefault(cls, {})[frame] = _pairs(mine, theirs, min_iou)
        for cls, per_frame in by_frame.items():
            pairs = [p for ps in per_frame.values() for p in ps]
            if len(pairs) < min_pairs:
                continue
            full = _median(pairs)
            loo = []
            for f, ps in per_frame.items():
                rest = _median([p for g, qs in per_frame.items() if g != f for p in qs])
                loo += [_mean_iou([p], rest) for p in ps]
            out[(video, cls)] = EdgeStyle(
                full, len(pairs), round(_mean_iou(pairs, None), 4),
                round(_mean_iou(pairs, full), 4), round(float(np.mean(loo)), 4),
            )  # fmt: skip
    return out


def apply_style(
    labels: Mapping[tuple[str, int], Sequence[Box]], styles: Mapping[tuple[str, int], EdgeStyle]
) -> dict[tuple[str, int], list[Box]]:
    """``labels`` with each box of a fitted ``(video, class)`` shifted; other boxes unchanged."""
    out: dict[tuple[str, int], list[Box]] = {}
    for (video, frame), boxes in labels.items():
        shifted = []
        for b in boxes:
            style = styles.get((video, b.cls))
            shifted.append(style.shift(b) if style else b)
        out[(video, frame)] = shifted
    return out
