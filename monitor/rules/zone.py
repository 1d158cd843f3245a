"""Zone intrusion: a tracked object's anchor (bottom centre) inside a polygon."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from monitor.rules.base import (
    PolygonRule,
    RuleConfigBase,
    check_polygon,
    inside,
    label,
)
from monitor.schema import Point
from monitor.types import Alert, Detections, Frame


class ZoneRule(RuleConfigBase):
    """An object's anchor inside a polygon."""

    polygon: list[Point] = Field(description="Polygon vertices [[x, y], ...].")
    min_frames: int = Field(1, ge=1, description="Consecutive frames inside before alerting.")

    _poly = field_validator("polygon")(check_polygon)


class ZoneIntrusion(PolygonRule):
    """A tracked object's anchor inside the polygon for ``min_frames`` consecutive frames."""

    kind = "zone"
    config: ClassVar[type[RuleConfigBase]] = ZoneRule
    cfg: ZoneRule

    def __init__(self, cfg: ZoneRule) -> None:
        super().__init__(cfg)
        self._inside: dict[str, dict[int, int]] = {}

    def trigger(self, frame: Frame, dets: Detections) -> list[Alert]:
        cand = self._candidates(frame, dets)
        assert cand.tracker_id is not None
        polygon = self.scaled(self.cfg.polygon, frame.shape)
        mask = inside(polygon, cand.anchors)
        prev = self._inside.get(frame.camera_id, {})
        now = {int(t): prev.get(int(t), 0) + 1 for t in cand.tracker_id[mask]}
        self._inside[frame.camera_id] = now
        fired = [i for i, t in enumerate(cand.tracker_id) if now.get(int(t)) == self.cfg.min_frames]
        if not fired:
            return []
        who = ", ".join(label(cand, i) for i in fired)
        ids = [int(cand.tracker_id[i]) for i in fired]
        text = f"{who} entered zone '{self.cfg.name}' at t={frame.timestamp:.1f}s"
        assert polygon is not None
        data = {"polygon": polygon.tolist(), "boxes": cand.xyxy[fired].tolist()}
        return [self._emit(frame, ids, float(cand.confidence[fired].max()), text, data)]

    def reset(self, camera_id: str) -> None:
        super().reset(camera_id)
        self._inside.pop(camera_id, None)
