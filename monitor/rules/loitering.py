"""Loitering: a tracked object staying longer than a dwell limit (inside a polygon when given)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator

from monitor.rules.base import (
    STALE_S,
    PolygonRule,
    RuleConfigBase,
    check_polygon,
    inside,
    label,
)
from monitor.schema import Point
from monitor.types import Alert, Detections, Frame


class LoiterRule(RuleConfigBase):
    """An object staying longer than ``seconds`` (inside ``polygon`` when given)."""

    seconds: float = Field(gt=0, description="Dwell time that counts as loitering.")
    polygon: list[Point] | None = Field(None, description="Area to watch; None = whole frame.")

    _poly = field_validator("polygon")(check_polygon)


class Loitering(PolygonRule):
    """A tracked object staying ``seconds`` or longer (inside the polygon when one is given)."""

    kind = "loitering"
    config: ClassVar[type[RuleConfigBase]] = LoiterRule
    cfg: LoiterRule

    def __init__(self, cfg: LoiterRule) -> None:
        super().__init__(cfg)
        self._since: dict[str, dict[int, list[float]]] = {}  # id -> [entered, last_seen, alerted]

    def trigger(self, frame: Frame, dets: Detections) -> list[Alert]:
        cand = self._candidates(frame, dets)
        assert cand.tracker_id is not None
        t = frame.timestamp
        state = {
            k: v for k, v in self._since.get(frame.camera_id, {}).items() if t - v[1] <= STALE_S
        }
        polygon = self.scaled(self.cfg.polygon, frame.shape)
        mask = inside(polygon, cand.anchors)
        fired, dwell = [], []
        for i, tid in enumerate(int(x) for x in cand.tracker_id):
            if not mask[i]:
                state.pop(tid, None)
                continue
            entry = state.setdefault(tid, [t, t, 0.0])
            entry[1] = t
            if not entry[2] and t - entry[0] >= self.cfg.seconds:
                entry[2] = 1.0
                fired.append(i)
                dwell.append(t - entry[0])
        self._since[frame.camera_id] = state
        if not fired:
            return []
        where = f"in '{self.cfg.name}'" if self.cfg.polygon else "in view"
        who = ", ".join(f"{label(cand, i)} for {d:.1f}s" for i, d in zip(fired, dwell))
        text = f"loitering {where}: {who} (limit {self.cfg.seconds:.0f}s)"
        ids = [int(cand.tracker_id[i]) for i in fired]
        poly_out = None if polygon is None else polygon.tolist()
        data = {"dwell_s": dwell, "limit_s": self.cfg.seconds, "polygon": poly_out}
        return [self._emit(frame, ids, max(dwell) / self.cfg.seconds, text, data)]

    def reset(self, camera_id: str) -> None:
        super().reset(camera_id)
        self._since.pop(camera_id, None)
