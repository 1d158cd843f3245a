"""Completing partial human labels with a teacher's boxes of the classes the human did not label.

A user who labels only people (MOT files are person-only) on a camera that also shows cars would
otherwise teach the multi-class default that those cars are background, and the fine-tuned model
forgets vehicles. Per video, the classes found in its human labels are "covered": the human's
boxes are the truth for them. For every other class the teacher's boxes are added to the human-
labelled training and validation frames. Held-out frames keep the human boxes alone, so the
before/after evaluation measures only what the human labelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from training.label_repair import dedupe
from training.labels import Box, LabeledFrame


def covered_classes(frames: Iterable[LabeledFrame]) -> dict[str, set[int]]:
    """Per video, the classes its human-labelled frames contain at least one box of."""
    out: dict[str, set[int]] = {}
    for fr in frames:
        out.setdefault(fr.video, set()).update(b.cls for b in fr.boxes)
    return out


def completion(teacher_boxes: Sequence[Box], covered: set[int], iou: float = 0.7) -> list[Box]:
    """The teacher's boxes of the classes not in ``covered``, one per object.

    The teachers suppress overlaps per class, so a van can come as both "car" and "truck"; two
    labels on one object would teach the student both, so only the higher-scored box of any pair
    overlapping by ``iou`` stays (``training.label_repair.dedupe`` across classes). An empty
    ``covered`` (human frames with no box at all) adds nothing: without a labelled class there is
    no telling which classes the human meant to mark.
    """
    add = [b for b in teacher_boxes if b.cls not in covered] if covered else []
    return dedupe(add, iou, agnostic=True)[0]


def complete(frame: LabeledFrame, extra: Mapping[str, Sequence[Box]]) -> LabeledFrame:
    """``frame`` with the completion boxes stored for it under ``key(frame)`` appended."""
    add = tuple(extra.get(key(frame), ()))
    if not add:
        return frame
    return LabeledFrame(frame.video, frame.frame, frame.image, frame.boxes + add, frame.source,
                        frame.from_video)  # fmt: skip


def key(frame: LabeledFrame) -> str:
    """Stage-file key of a frame."""
    return f"{frame.video}/{frame.frame}"
