"""Label records and the parsers of the label formats the fine-tuning module imports.

MOT ``gt.txt``/``det.txt``, YOLO ``.txt`` and COCO JSON all become :class:`Box` lists keyed by
frame; a malformed line raises :class:`LabelError` naming ``file:line`` and what is wrong, so a
bad export is fixed at its source instead of silently training on garbage.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

LABEL_SOURCES = ("gt", "teacher", "review")


class LabelError(ValueError):
    """A label file could not be parsed; the message starts with ``file:line``."""


@dataclass(frozen=True)
class Box:
    """One labelled box in pixels.

    Args:
        cls: Class index (0 = person for MOT sources).
        x1: Left edge. y1: Top edge. x2: Right edge. y2: Bottom edge.
        score: Confidence of the labeller (1.0 for human labels, detector score for teachers).

    Example:
        >>> Box(0, 10, 20, 30, 60).to_yolo(100, 100)
        '0 0.200000 0.400000 0.200000 0.400000'
    """

    cls: int
    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.x1, self.y1, self.x2, self.y2, self.score)):
            raise ValueError("box coordinates and score must be finite")
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise ValueError(f"box has no area: ({self.x1}, {self.y1}, {self.x2}, {self.y2})")
        if self.cls < 0:
            raise ValueError(f"class index must be >= 0, got {self.cls}")

    def clipped(self, width: int, height: int) -> Box | None:
        """This box clipped to the image, or None when nothing of it is inside."""
        x1, y1 = max(0.0, self.x1), max(0.0, self.y1)
        x2, y2 = min(float(width), self.x2), min(float(height), self.y2)
        if x2 - x1 < 1 or y2 - y1 < 1:
            return None
        return Box(self.cls, x1, y1, x2, y2, self.score)

    def to_yolo(self, width: int, height: int) -> str:
        """``cls cx cy w h`` normalised to the image size, as YOLO label files want."""
        cx, cy = (self.x1 + self.x2) / 2 / width, (self.y1 + self.y2) / 2 / height
        w, h = (self.x2 - self.x1) / width, (self.y2 - self.y1) / height
        return f"{self.cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


@dataclass(frozen=True)
class LabeledFrame:
    """One frame of a video or sequence with its boxes, ready to be written as a YOLO sample.

    Args:
        video: Name of the video or sequence; splits are made per video, in time blocks.
        frame: Frame number in the source (MOT frames are 1-based, video frames 0-based).
        image: Image file, or the video file when ``from_video`` is True.
        boxes: Labels of the frame; empty means a background image.
        source: ``gt`` (human), ``teacher`` (a detector's output) or ``review`` (dashboard).
        from_video: ``image`` is a video and ``frame`` its 0-based index.
    """

    video: str
    frame: int
    image: Path
    boxes: tuple[Box, ...] = ()
    source: str = "gt"
    from_video: bool = False

    def __post_init__(self) -> None:
        if self.source not in LABEL_SOURCES:
            raise ValueError(f"source must be one of {LABEL_SOURCES}, got {self.source!r}")


@dataclass(frozen=True)
class LabelRecord:
    """A reviewer's verdict from the dashboard on one frame, stored to feed the next training run.

    Args:
        camera_id: Camera or video the frame came from.
        frame_index: Frame index within that source.
        image_path: Saved frame (snapshot) the reviewer looked at.
        boxes: Corrected boxes in pixels; empty = the frame holds no object (a false alarm).
        class_names: Class index -> name for ``boxes``.
        alert_id: Alert the review came from, when any.
        reviewer: Who reviewed it.
        created: ISO-8601 UTC time of the review.
        source: Always ``review``.
    """

    camera_id: str
    frame_index: int
    image_path: str
    boxes: tuple[Box, ...] = ()
    class_names: Mapping[int, str] = field(default_factory=lambda: {0: "person"})
    alert_id: str | None = None
    reviewer: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    source: str = "review"

    def to_labeled_frame(self) -> LabeledFrame:
        """The record as a training sample (source ``review``)."""
        return LabeledFrame(
            self.camera_id, self.frame_index, Path(self.image_path), self.boxes, "review"
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict (boxes as lists)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["boxes"] = [[b.cls, b.x1, b.y1, b.x2, b.y2, b.score] for b in self.boxes]
        d["class_names"] = {str(k): v for k, v in self.class_names.items()}
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LabelRecord:
        """Inverse of :meth:`to_json`."""
        boxes = tuple(Box(int(b[0]), *map(float, b[1:6])) for b in d.get("boxes", []))
        names = {int(k): str(v) for k, v in d.get("class_names", {"0": "person"}).items()}
        rest = {k: v for k, v in d.items() if k not in ("boxes", "class_names")}
        return cls(boxes=boxes, class_names=names, **rest)


def _utf8_text(path: Path) -> str:
    """The text of a label file; LabelError naming it when it is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise LabelError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from None


def _numbered_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Non-empty lines of a text file as (1-based line number, fields split on commas/space)."""
    for lineno, raw in enumerate(_utf8_text(path).splitlines(), start=1):
        text = raw.strip()
        if text and not text.startswith("#"):
            yield lineno, text.replace(",", " ").split()


def _floats(path: Path, lineno: int, fields: Sequence[str], n: int) -> list[float]:
    if len(fields) < n:
        raise LabelError(f"{path}:{lineno}: expected at least {n} fields, got {len(fields)}")
    try:
        values = [float(f) for f in fields]
    except ValueError as err:
        raise LabelError(f"{path}:{lineno}: not a number ({err})") from None
    if not all(math.isfinite(v) for v in values):
        raise LabelError(f"{path}:{lineno}: non-finite value")
    return values


def read_mot(
    path: str | Path, min_score: float | None = None, class_id: int = 0
) -> dict[int, list[Box]]:
    """Read a MOT ``gt.txt`` or ``det.txt``: ``frame,id,left,top,width,height,conf,...``.

    Args:
        path: The MOT file.
        min_score: For detections, keep rows whose 7th column is >= this. For ground truth leave
            None: rows with ``conf == 0`` (MOT's "do not consider") are dropped.
        class_id: Class index given to every box (MOT sequences label one class, pedestrians).

    Returns:
        1-based frame number -> boxes.
    """
    path = Path(path)
    out: dict[int, list[Box]] = {}
    for lineno, fields in _numbered_lines(path):
        v = _floats(path, lineno, fields, 6)
        frame = int(v[0])
        if frame != v[0] or frame < 1:
            raise LabelError(f"{path}:{lineno}: frame must be a positive integer, got {fields[0]}")
        left, top, w, h = v[2:6]
        if w <= 0 or h <= 0:
            raise LabelError(f"{path}:{lineno}: width and height must be > 0, got {w}x{h}")
        score = v[6] if len(v) > 6 else 1.0
        if min_score is None and score == 0:
            continue
        if min_score is not None and score < min_score:
            continue
        box = Box(class_id, left, top, left + w, top + h, score if min_score is not None else 1.0)
        out.setdefault(frame, []).append(box)
    return out


def read_yolo_txt(path: str | Path, width: int, height: int, nc: int | None = None) -> list[Box]:
    """Read one YOLO label file (``cls cx cy w h`` normalised) into pixel boxes.

    Args:
        path: The ``.txt`` file; an empty file is a background image.
        width: Image width in pixels. height: Image height in pixels.
        nc: Number of classes; a class index >= nc is an error when given.
    """
    path = Path(path)
    boxes = []
    for lineno, fields in _numbered_lines(path):
        if len(fields) != 5:
            raise LabelError(
                f"{path}:{lineno}: expected 5 fields 'cls cx cy w h', got {len(fields)}"
            )
        v = _floats(path, lineno, fields, 5)
        cls = int(v[0])
        if cls != v[0] or cls < 0 or (nc is not None and cls >= nc):
            raise LabelError(f"{path}:{lineno}: bad class index {fields[0]} (nc={nc})")
        cx, cy, w, h = v[1:]
        if not all(0.0 <= x <= 1.0 for x in (cx, cy, w, h)) or w == 0 or h == 0:
            raise LabelError(f"{path}:{lineno}: coordinates must be normalised to (0, 1]: {v[1:]}")
        x1, y1 = (cx - w / 2) * width, (cy - h / 2) * height
        boxes.append(Box(cls, x1, y1, x1 + w * width, y1 + h * height))
    return boxes


def read_coco(path: str | Path) -> tuple[dict[str, list[Box]], dict[int, str]]:
    """Read a COCO detection JSON.

    Returns:
        (image ``file_name`` -> boxes, class index -> name); COCO category ids are remapped to
        contiguous indices in id order. Images without annotations map to an empty list.
    """
    path = Path(path)
    try:
        doc = json.loads(_utf8_text(path))
    except json.JSONDecodeError as err:
        raise LabelError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from None
    if not isinstance(doc, dict):
        raise LabelError(f"{path}:1: a COCO file is a JSON object, got {type(doc).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise LabelError(f"{path}:1: missing list '{key}'")
    cats = sorted(doc["categories"], key=lambda c: c["id"])
    cat_index = {c["id"]: i for i, c in enumerate(cats)}
    names = {i: str(c["name"]) for i, c in enumerate(cats)}
    files = {img["id"]: str(img["file_name"]) for img in doc["images"]}
    out: dict[str, list[Box]] = {name: [] for name in files.values()}
    for i, ann in enumerate(doc["annotations"]):
        where = f"{path}:annotations[{i}]"
        if ann.get("image_id") not in files:
            raise LabelError(f"{where}: unknown image_id {ann.get('image_id')!r}")
        if ann.get("category_id") not in cat_index:
            raise LabelError(f"{where}: unknown category_id {ann.get('category_id')!r}")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4) or bbox[2] <= 0 or bbox[3] <= 0:
            raise LabelError(f"{where}: bbox must be [x, y, w, h] with w, h > 0, got {bbox!r}")
        x, y, w, h = map(float, bbox)
        out[files[ann["image_id"]]].append(Box(cat_index[ann["category_id"]], x, y, x + w, y + h))
    return out, names


def write_yolo_txt(path: Path, boxes: Sequence[Box], width: int, height: int) -> int:
    """Write boxes (clipped to the image) as a YOLO label file; returns how many were written."""
    lines = [c.to_yolo(width, height) for b in boxes if (c := b.clipped(width, height))]
    path.write_text("".join(line + "\n" for line in lines))
    return len(lines)
