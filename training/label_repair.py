"""Repair pseudo-labels along tracks before training a student on them.

Teachers blink: a person walking close to others is found in frame t, missed in t+1, found again
in t+2; a shadow scores high for one frame. Linking the fused boxes of consecutive labelled frames
into tracks (greedy IoU matching per class) lets each frame borrow from its neighbours:

- **interpolated**: a track missing for up to ``max_gap`` labelled frames and coming back gets
  linearly interpolated boxes in the frames between;
- **rescued**: a box under the label threshold that belongs to a track with enough confident hits
  is kept;
- **dropped**: a confident box whose track has one frame only and that lies nowhere near a longer
  track (IoU below ``near_iou`` with every box of one within ``max_gap`` frames) is dropped.

Each repair is counted so the report can say how many boxes it changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training.distill import _iou_one, box_of
from training.labels import Box


@dataclass(frozen=True)
class RepairParams:
    """Thresholds of the repair.

    Args:
        label_score: Fused score from which a box is a label.
        track_score: Fused score from which a box may extend a track (rescue candidates).
        link_iou: IoU needed to link a box to where the track's last box is heading (constant
            velocity from its last two boxes).
        max_gap: Labelled frames a track may be missing and still be linked and interpolated.
        min_hits: Confident boxes a track needs before its weak boxes are rescued.
        near_iou: A lone box overlapping a longer track this much (nearby frames) is kept.
        dedupe_iou: Labels of one class overlapping a higher-scored one this much are removed.
    """

    label_score: float = 0.3
    track_score: float = 0.1
    link_iou: float = 0.3
    max_gap: int = 3
    min_hits: int = 3
    near_iou: float = 0.1
    dedupe_iou: float = 0.5


@dataclass
class _Track:
    cls: int
    items: list[tuple[int, np.ndarray, float]] = field(default_factory=list)  # (step, box, score)

    def last(self) -> tuple[int, np.ndarray, float]:
        return self.items[-1]

    def predict(self, step: int) -> np.ndarray:
        """The box expected at ``step``: the last one moved at the track's last velocity."""
        s1, b1, _ = self.items[-1]
        if len(self.items) < 2:
            return b1
        s0, b0, _ = self.items[-2]
        return b1 + (b1 - b0) / (s1 - s0) * (step - s1)


def link_tracks(frames: Sequence[Sequence[Sequence[float]]], params: RepairParams) -> list[_Track]:
    """Greedy IoU tracks over the labelled frames' boxes (rows ``[cls, x1, y1, x2, y2, score]``).

    A track's items are keyed by the frame's position in ``frames`` (its step), not frame number.
    """
    live: list[_Track] = []
    done: list[_Track] = []
    for step, rows in enumerate(frames):
        live, ended = (
            [t for t in live if step - t.last()[0] <= params.max_gap + 1],
            [t for t in live if step - t.last()[0] > params.max_gap + 1],
        )
        done += ended
        cands = sorted((r for r in rows if r[5] >= params.track_score), key=lambda r: -float(r[5]))
        taken: set[int] = set()
        for r in cands:
            box = np.asarray(r[1:5], np.float64)
            best, best_iou = None, params.link_iou
            for i, t in enumerate(live):
                if i in taken or t.cls != int(r[0]) or t.last()[0] == step:
                    continue
                iou = float(_iou_one(box, t.predict(step)[None])[0])
                if iou >= best_iou:
                    best, best_iou = i, iou
            if best is None:
                live.append(_Track(int(r[0]), [(step, box, float(r[5]))]))
                taken.add(len(live) - 1)
            else:
                live[best].items.append((step, box, float(r[5])))
                taken.add(best)
    return done + live


def _near_longer_track(
    step: int, box: np.ndarray, long_boxes: Mapping[int, list[np.ndarray]], params: RepairParams
) -> bool:
    for s in range(step - params.max_gap, step + params.max_gap + 1):
        boxes = long_boxes.get(s)
        if boxes and float(_iou_one(box, np.asarray(boxes)).max()) >= params.near_iou:
            return True
    return False


def repair(
    frames: Sequence[Sequence[Sequence[float]]], params: RepairParams | None = None
) -> tuple[list[list[Box]], Counter[str]]:
    """Labels of each frame after track repair, and how many boxes each repair changed.

    Args:
        frames: Fused boxes of consecutive labelled frames of one video, rows
            ``[cls, x1, y1, x2, y2, score, ...]``.
        params: Thresholds, see :class:`RepairParams`.

    Returns:
        Per frame, the label boxes; counts ``confident`` (boxes over the label score before
        repair), ``interpolated``, ``rescued``, ``dropped`` and ``labels`` (after).
    """
    params = params or RepairParams()
    tracks = link_tracks(frames, params)
    counts: Counter[str] = Counter()
    counts["confident"] = sum(r[5] >= params.label_score for rows in frames for r in rows)
    long_boxes: dict[int, list[np.ndarray]] = {}
    for t in tracks:
        if len(t.items) > 1:
            for step, box, _ in t.items:
                long_boxes.setdefault(step, []).append(box)
    out: list[list[Box]] = [[] for _ in frames]
    for t in tracks:
        hits = sum(s >= params.label_score for _, _, s in t.items)
        for step, box, score in t.items:
            if score >= params.label_score:
                if len(t.items) == 1 and not _near_longer_track(step, box, long_boxes, params):
                    counts["dropped"] += 1
                    continue
                out[step].append(box_of(t.cls, box, score))
            elif hits >= params.min_hits:
                counts["rescued"] += 1
                out[step].append(box_of(t.cls, box, params.label_score))
        if hits < params.min_hits:
            continue
        for (s0, b0, c0), (s1, b1, c1) in zip(t.items, t.items[1:], strict=False):
            for s in range(s0 + 1, s1):
                a = (s - s0) / (s1 - s0)
                box = (1 - a) * b0 + a * b1
                out[s].append(box_of(t.cls, box, min(c0, c1)))
                counts["interpolated"] += 1
    for step, boxes in enumerate(out):
        out[step], removed = dedupe(boxes, params.dedupe_iou)
        counts["deduplicated"] += removed
    counts["labels"] = sum(len(b) for b in out)
    return out, counts


def dedupe(boxes: Sequence[Box], iou: float, agnostic: bool = False) -> tuple[list[Box], int]:
    """Greedy NMS of one frame's labels, best score first: per class (a rescued or interpolated box
    can duplicate), or across classes (``agnostic``: one label per object); returns the kept boxes
    and how many were dropped."""
    kept: list[Box] = []
    for b in sorted(boxes, key=lambda b: -b.score):
        same = [k for k in kept if agnostic or k.cls == b.cls]
        arr = np.array([[k.x1, k.y1, k.x2, k.y2] for k in same]).reshape(-1, 4)
        if not same or float(_iou_one(np.array([b.x1, b.y1, b.x2, b.y2]), arr).max()) < iou:
            kept.append(b)
    return kept, len(boxes) - len(kept)


def repair_rows(
    rows: Sequence[Mapping[str, Any]], params: RepairParams | None = None
) -> tuple[dict[tuple[str, int], list[Box]], Counter[str]]:
    """Repair the JSONL rows of :func:`training.distill.label_footage`, video by video.

    Returns:
        ``(video, frame) -> boxes`` and the summed repair counts.
    """
    by_video: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        by_video.setdefault(str(r["video"]), []).append(r)
    labels: dict[tuple[str, int], list[Box]] = {}
    total: Counter[str] = Counter()
    for video, vrows in by_video.items():
        vrows = sorted(vrows, key=lambda r: int(r["frame"]))
        boxes, counts = repair([r["boxes"] for r in vrows], params)
        total.update(counts)
        for r, b in zip(vrows, boxes, strict=True):
            labels[(video, int(r["frame"]))] = b
    return labels, total


def build_student_dataset(
    jsonl: Path | str,
    out: Path | str,
    params: RepairParams | None = None,
    human: Mapping[str, Mapping[int, Sequence[Box]]] | None = None,
    val: float = 0.1,
    gap: int = 10,
    human_repeat: int = 1,
    style: bool = True,
    human_classes: Collection[int] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Pseudo-label JSONL -> repaired labels -> time-block train/val split -> YOLO dataset.

    ``human_repeat`` > 1 oversamples the human-labelled training frames (their box style is the
    one evaluation measures; the teachers' boxes are looser or tighter per class). ``style``
    moves the teacher boxes of each video that has human labels to the human box style
    (:mod:`training.label_style`). ``human_classes`` are the classes the human labels cover;
    the teachers' boxes of other classes stay on human frames (:func:`student_frames`).

    Returns:
        ``data.yaml`` and a report: repair params, total and per-video repair counts (also
        written to ``repair.json`` beside it).
    """
    import json

    from training.datasets import check_no_leak, time_block_split, write_dataset
    from training.distill import STUDENT_NAMES, read_pseudo, student_frames
    from training.label_style import apply_style, fit_style

    params = params or RepairParams()
    rows = read_pseudo(jsonl)
    labels, total = repair_rows(rows, params)
    per_video = {
        v: dict(repair_rows([r for r in rows if r["video"] == v], params)[1])
        for v in sorted({str(r["video"]) for r in rows})
    }
    styles = fit_style(labels, human or {}) if style else {}
    labels = apply_style(labels, styles)
    splits = time_block_split(
        student_frames(rows, labels, human, human_classes), val=val, test=0.0, gap=gap
    )
    splits.pop("test")
    check_no_leak(splits, gap=gap)
    splits["train"] += [f for f in splits["train"] if f.source == "gt"] * (human_repeat - 1)
    data = write_dataset(out, splits, STUDENT_NAMES)
    report = {
        "params": {**params.__dict__, "human_repeat": human_repeat},
        "human_frames": {v: len(f) for v, f in (human or {}).items()},
        "total": dict(total),
        "per_video": per_video,
        "style": {f"{v}/{c}": s.__dict__ for (v, c), s in styles.items()},
    }
    (Path(out) / "repair.json").write_text(json.dumps(report, indent=2))
    return data, report
