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
    overlapping by ``iou`` stays. An empty ``covered`` (human frames with no box at all) adds
    nothing: without a labelled class there is no telling which classes the human meant to mark.
    """
    import torch
    from torchvision.ops import nms

    add = [b for b in teacher_boxes if b.cls not in covered] if covered else []
    if len(add) < 2:
        return add
    xyxy = torch.tensor([[b.x1, b.y1, b.x2, b.y2] for b in add], dtype=torch.float32)
    keep = nms(xyxy, torch.tensor([b.score for b in add], dtype=torch.float32), iou)
    return [add[i] for i in sorted(keep.tolist())]


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
