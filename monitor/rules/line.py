"""Line crossing: a tracked object's anchor moving across a segment, optionally one way only."""

from __future__ import annotations

from typing import ClassVar, Literal

import cv2
import numpy as np
from pydantic import Field

from monitor.rules.base import LINE_COLOR, STALE_S, Rule, RuleConfigBase, label
from monitor.schema import Point
from monitor.types import Alert, Detections, Frame


class LineRule(RuleConfigBase):
    """An object's anchor crossing a line segment, optionally in one direction."""

    start: Point = Field(description="Line start [x, y].")
    end: Point = Field(description="Line end [x, y].")
    direction: Literal["both", "left_to_right", "right_to_left"] = Field(
        "both", description="Crossing direction as seen walking from start to end."
    )


class LineCrossing(Rule):
    """A tracked object's anchor moving across the segment start->end, in the configured direction."""

    kind = "line"
    config: ClassVar[type[RuleConfigBase]] = LineRule
    cfg: LineRule

    def __init__(self, cfg: LineRule) -> None:
        super().__init__(cfg)
        self._side: dict[str, dict[int, tuple[float, float]]] = {}  # id -> (side, last seen)

    def _segment(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        pts = self.scaled([self.cfg.start, self.cfg.end], shape)
        assert pts is not None
        return pts[0], pts[1]

    def trigger(self, frame: Frame, dets: Detections) -> list[Alert]:
        cand = self._candidates(frame, dets)
        assert cand.tracker_id is not None
        t = frame.timestamp
        state = {
            k: v for k, v in self._side.get(frame.camera_id, {}).items() if t - v[1] <= STALE_S
        }
        s, e = self._segment(frame.shape)
        d = e - s
        p = cand.anchors.astype(np.float64)
        sides = d[0] * (p[:, 1] - s[1]) - d[1] * (p[:, 0] - s[0])
        proj = ((p - s) @ d) / max(float(d @ d), 1e-9)
        on_segment = (proj >= 0) & (proj <= 1)
        fired, directions = [], []
        for i, tid in enumerate(int(x) for x in cand.tracker_id):
            side = float(np.sign(sides[i]))
            before = state.get(tid)
            if side != 0:
                state[tid] = (side, t)
            if before is None or side == 0 or side == before[0] or not on_segment[i]:
                continue
            direction = "left_to_right" if side > 0 else "right_to_left"
            if self.cfg.direction in ("both", direction):
                fired.append(i)
                directions.append(direction)
        self._side[frame.camera_id] = state
        if not fired:
            return []
        who = ", ".join(f"{label(cand, i)} ({d})" for i, d in zip(fired, directions))
        ids = [int(cand.tracker_id[i]) for i in fired]
        text = f"{who} crossed line '{self.cfg.name}' at t={t:.1f}s"
        data = {"line": [s.tolist(), e.tolist()], "directions": directions}
        return [self._emit(frame, ids, float(cand.confidence[fired].max()), text, data)]

    def draw(self, img: np.ndarray) -> None:
        s, e = self._segment(img.shape[:2])
        p1, p2 = (int(s[0]), int(s[1])), (int(e[0]), int(e[1]))
        cv2.arrowedLine(img, p1, p2, LINE_COLOR, 2, cv2.LINE_AA, tipLength=0.03)
        cv2.putText(img, self.cfg.name, p1, cv2.FONT_HERSHEY_SIMPLEX, 0.5, LINE_COLOR, 1)

    def reset(self, camera_id: str) -> None:
        super().reset(camera_id)
        self._side.pop(camera_id, None)
