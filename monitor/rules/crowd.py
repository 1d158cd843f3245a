"""Crowding: more objects than a limit at once (inside a polygon when given), once per episode."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from monitor.rules.base import (
    PolygonRule,
    RuleConfigBase,
    check_polygon,
    inside,
)
from monitor.schema import Point
from monitor.types import Alert, Detections, Frame


class CrowdRule(RuleConfigBase):
    """More than ``max_count`` objects at once (inside ``polygon`` when given)."""

    max_count: int = Field(ge=0, description="Alert when the count exceeds this.")
    min_seconds: float = Field(0.0, ge=0, description="Count must stay above for this long.")
    polygon: list[Point] | None = Field(None, description="Area to count in; None = whole frame.")

    _poly = field_validator("polygon")(check_polygon)


class Crowding(PolygonRule):
    """More than ``max_count`` objects (inside the polygon) for ``min_seconds``; once per episode."""

    kind = "crowd"
    config: ClassVar[type[RuleConfigBase]] = CrowdRule
    cfg: CrowdRule

    def __init__(self, cfg: CrowdRule) -> None:
        super().__init__(cfg)
        self._above: dict[str, list[float]] = {}  # camera -> [since, alerted]

    def trigger(self, frame: Frame, dets: Detections) -> list[Alert]:
        cand = self._candidates(frame, dets, need_ids=False)
        polygon = self.scaled(self.cfg.polygon, frame.shape)
        mask = inside(polygon, cand.anchors)
        count = int(mask.sum())
        cam, t = frame.camera_id, frame.timestamp
        if count <= self.cfg.max_count:
            self._above.pop(cam, None)
            return []
        state = self._above.setdefault(cam, [t, 0.0])
        if state[1] or t - state[0] < self.cfg.min_seconds:
            return []
        state[1] = 1.0
        ids = [] if cand.tracker_id is None else [int(i) for i in cand.tracker_id[mask] if i >= 0]
        where = f"in '{self.cfg.name}'" if self.cfg.polygon else "in view"
        text = f"{count} objects {where} (limit {self.cfg.max_count}) for {t - state[0]:.1f}s"
        poly_out = None if polygon is None else polygon.tolist()
        data = {"count": count, "limit": self.cfg.max_count, "polygon": poly_out}
        return [self._emit(frame, ids, count / max(self.cfg.max_count, 1), text, data)]

    def reset(self, camera_id: str) -> None:
        super().reset(camera_id)
        self._above.pop(camera_id, None)
