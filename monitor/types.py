"""The central data types passed through the pipeline: Frame, Detections, Track, Alert, AnomalyScore.

Columnar and frozen like supervision's ``Detections``: every stage takes and returns these, nobody
unpacks tuples, and filtering is ``dets[mask]``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Frame:
    """One decoded image from a source.

    Args:
        camera_id: Source or camera name; per-camera state in stages is keyed by it.
        index: 0-based frame index within the source.
        timestamp: Seconds; ``index / fps`` for files, wall clock for cameras. Rules read only this.
        image: ``(H, W, 3)`` uint8 BGR array.

    Example:
        >>> f = Frame("cam", 0, 0.0, np.zeros((4, 6, 3), np.uint8))
        >>> f.shape
        (4, 6)
    """

    camera_id: str
    index: int
    timestamp: float
    image: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3:
            raise ValueError(f"Frame.image must be (H, W, 3), got {self.image.shape}")

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the image."""
        return int(self.image.shape[0]), int(self.image.shape[1])


def _as(arr: Any, dtype: Any, shape_tail: tuple[int, ...], name: str) -> np.ndarray:
    a = np.asarray(arr, dtype=dtype)
    if a.size == 0:
        a = a.reshape((0, *shape_tail))
    if a.shape[1:] != shape_tail:
        raise ValueError(f"Detections.{name} must have shape (N, {shape_tail}), got {a.shape}")
    return a


@dataclass(frozen=True)
class Detections:
    """Boxes of one frame, column by column.

    Args:
        xyxy: ``(N, 4)`` float32 pixel boxes.
        confidence: ``(N,)`` float32 scores.
        class_id: ``(N,)`` int64 class indices.
        tracker_id: ``(N,)`` int64 track ids, or None before tracking.
        class_names: class index -> name of the model that produced them.

    Example:
        >>> d = Detections(np.array([[0, 0, 10, 10], [5, 5, 8, 9]]), np.array([0.9, 0.2]),
        ...                np.array([0, 0]), class_names={0: "person"})
        >>> len(d[d.confidence > 0.5])
        1
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray | None = None
    class_names: Mapping[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = _as(self.xyxy, np.float32, (4,), "xyxy")
        n = len(xyxy)
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", _as(self.confidence, np.float32, (), "confidence"))
        object.__setattr__(self, "class_id", _as(self.class_id, np.int64, (), "class_id"))
        if self.tracker_id is not None:
            object.__setattr__(self, "tracker_id", _as(self.tracker_id, np.int64, (), "tracker_id"))
        for name in ("confidence", "class_id", "tracker_id"):
            col = getattr(self, name)
            if col is not None and len(col) != n:
                raise ValueError(f"Detections.{name} has {len(col)} rows, xyxy has {n}")

    @classmethod
    def empty(cls, class_names: Mapping[int, str] | None = None) -> Detections:
        """No boxes."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0), class_names=class_names or {})

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        """Rows selected by int, slice, index list or boolean mask, as a new Detections."""
        if isinstance(index, int | np.integer):
            index = [int(index)]
        idx = np.asarray(index) if not isinstance(index, slice) else index
        return Detections(
            self.xyxy[idx],
            self.confidence[idx],
            self.class_id[idx],
            None if self.tracker_id is None else self.tracker_id[idx],
            self.class_names,
        )

    def with_tracker_ids(self, tracker_id: np.ndarray) -> Detections:
        """A copy with track ids attached."""
        return replace(self, tracker_id=np.asarray(tracker_id, dtype=np.int64))

    @property
    def names(self) -> list[str]:
        """Class name per row."""
        return [self.class_names.get(int(c), str(int(c))) for c in self.class_id]

    @property
    def anchors(self) -> np.ndarray:
        """``(N, 2)`` bottom-centre points: where an object stands, used by zones and lines."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)

    def class_mask(self, classes: Sequence[str] | None) -> np.ndarray:
        """Boolean mask of rows whose class name is in ``classes`` (all rows when None)."""
        if not classes:
            return np.ones(len(self), dtype=bool)
        wanted = set(classes)
        return np.array([n in wanted for n in self.names], dtype=bool)


@dataclass(frozen=True)
class Track:
    """Per-id summary of a tracked object on one camera."""

    track_id: int
    camera_id: str
    class_name: str
    first_seen: float
    last_seen: float
    last_box: tuple[float, float, float, float]
    hits: int = 1

    @property
    def age(self) -> float:
        """Seconds between first and last sighting."""
        return self.last_seen - self.first_seen


@dataclass(frozen=True)
class Alert:
    """An event worth a person's attention, with the evidence that raised it.

    ``kind`` is the rule or model family (zone, line, loitering, crowd, anomaly); ``data`` holds
    JSON-serialisable evidence (polygon, counts, feature values) shown next to the explanation.
    """

    camera_id: str
    kind: str
    rule: str
    severity: str
    start_time: float
    end_time: float
    frame_index: int
    track_ids: tuple[int, ...] = ()
    score: float = 1.0
    explanation: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    snapshot_path: str | None = None
    clip_path: str | None = None
    heatmap_path: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"Alert.severity must be one of {SEVERITIES}, got {self.severity!r}")

    def with_evidence(
        self,
        snapshot_path: str | None = None,
        clip_path: str | None = None,
        heatmap_path: str | None = None,
    ) -> Alert:
        """A copy with snapshot/clip/heatmap paths set (None keeps the current value)."""
        return replace(
            self,
            snapshot_path=snapshot_path or self.snapshot_path,
            clip_path=clip_path or self.clip_path,
            heatmap_path=heatmap_path or self.heatmap_path,
        )


@dataclass(frozen=True)
class AnomalyScore:
    """Output of an anomaly model for one frame: score in [0, 1], its threshold and the verdict."""

    score: float
    threshold: float
    explanation: str = ""
    heatmap: np.ndarray | None = field(default=None, repr=False)
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        """True when the score reaches the threshold."""
        return self.score >= self.threshold
