"""Rule-based behaviour: zone intrusion, line crossing, loitering and crowding.

Each rule keeps per-camera state and turns tracked detections into ``Alert``s. One event is one
alert: triggers within ``cooldown_s`` of the previous one update the open alert (same id, later
``end_time``, more track ids) instead of raising a new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import cv2
import numpy as np

from monitor.config import CrowdRule, LineRule, LoiterRule, RulesConfig, ZoneRule
from monitor.types import Alert, Detections, Frame

STALE_S = 5.0  # per-track state older than this (object gone) is forgotten
_ALERT_NS = uuid.UUID("5b0e6a8e-2f43-4e0c-9a43-0d3c6f1f8c11")


def alert_id(camera_id: str, rule: str, timestamp: float, frame_index: int) -> str:
    """Deterministic id, so re-processing a file updates its alerts instead of duplicating them."""
    return uuid.uuid5(_ALERT_NS, f"{camera_id}|{rule}|{timestamp:.3f}|{frame_index}").hex


def inside(polygon: Sequence[tuple[float, float]] | None, points: np.ndarray) -> np.ndarray:
    """Boolean mask of ``(N, 2)`` points inside (or on) the polygon; all True when None."""
    if polygon is None:
        return np.ones(len(points), dtype=bool)
    contour = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    return np.array(
        [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in points],
        dtype=bool,
    )


@dataclass
class _Episode:
    alert: Alert
    last_trigger: float


class Rule:
    """Base: class filter, cooldown-merged alert episodes per camera. Subclasses define ``trigger``."""

    kind = "rule"

    def __init__(self, cfg: ZoneRule | LineRule | LoiterRule | CrowdRule) -> None:
        self.cfg = cfg
        self._episodes: dict[str, _Episode] = {}

    def _candidates(self, dets: Detections, need_ids: bool = True) -> Detections:
        mask = dets.class_mask(self.cfg.classes)
        if need_ids:
            if dets.tracker_id is None:
                return dets[np.zeros(len(dets), dtype=bool)]
            mask &= dets.tracker_id >= 0
        return dets[mask]

    def _emit(
        self, frame: Frame, track_ids: Sequence[int], score: float, text: str, data: dict[str, Any]
    ) -> Alert:
        cam, t = frame.camera_id, frame.timestamp
        ep = self._episodes.get(cam)
        if ep is not None and t - ep.last_trigger <= self.cfg.cooldown_s:
            old = ep.alert
            ids = tuple(sorted(set(old.track_ids) | set(track_ids)))
            merged = dict(old.data, triggers=int(old.data.get("triggers", 1)) + 1)
            ep.alert = replace(
                old, end_time=t, track_ids=ids, score=max(old.score, score), data=merged
            )
            ep.last_trigger = t
            return ep.alert
        alert = Alert(
            camera_id=cam,
            kind=self.kind,
            rule=self.cfg.name,
            severity=self.cfg.severity,
            start_time=t,
            end_time=t,
            frame_index=frame.index,
            track_ids=tuple(sorted(int(i) for i in track_ids)),
            score=float(score),
            explanation=text,
            data={**data, "triggers": 1},
            id=alert_id(cam, self.cfg.name, t, frame.index),
        )
        self._episodes[cam] = _Episode(alert, t)
        return alert

    def trigger(self, frame: Frame, dets: Detections) -> list[Alert]:
        """Alerts started or updated by this frame."""
        raise NotImplementedError

    def reset(self, camera_id: str) -> None:
        """Forget a camera's state."""
        self._episodes.pop(camera_id, None)


def _label(dets: Detections, i: int) -> str:
    assert dets.tracker_id is not None
    return f"{dets.names[i]} #{int(dets.tracker_id[i])}"


class ZoneIntrusion(Rule):
    """A tracked object's anchor inside the polygon for ``min_frames`` consecutive frames."""

    kind = "zone"
    cfg: ZoneRule

    def __init__(self, cfg: ZoneRule) -> None:
        super().__init__(cfg)
        self._inside: dict[str, dict[int, int]] = {}

    def trigger(self, frame: Frame, dets: Detections) -> list[Alert]:
        cand = self._candidates(dets)
        assert cand.tracker_id is not None
        mask = inside(self.cfg.polygon, cand.anchors)
        prev = self._inside.get(frame.camera_id, {})
        now = {int(t): prev.get(int(t), 0) + 1 for t in cand.tracker_id[mask]}
        self._inside[frame.camera_id] = now
        fired = [i for i, t in enumerate(cand.tracker_id) if now.get(int(t)) == self.cfg.min_frames]
        if not fired:
            return []
        who = ", ".join(_label(cand, i) for i in fired)
        ids = [int(cand.tracker_id[i]) for i in fired]
        text = f"{who} entered zone '{self.cfg.name}' at t={frame.timestamp:.1f}s"
        data = {"polygon": [list(p) for p in self.cfg.polygon], "boxes": cand.xyxy[fired].tolist()}
        return [self._emit(frame, ids, float(cand.confidence[fired].max()), text, data)]

    def reset(self, camera_id: str) -> None:
        super().reset(camera_id)
        self._inside.pop(camera_id, None)


class LineCrossing(Rule):
    """A tracked object's anchor moving across the segment start->end, in the configured direction."""

    kind = "line"
    cfg: LineRule

    def __init__(self, cfg: LineRule) -> None:
        super().__init__(cfg)
        self._side: dict[str, dict[int, tuple[float, float]]] = {}  # id -> (side, last seen)

    def _side_of(self, p: np.ndarray) -> np.ndarray:
        (sx, sy), (ex, ey) = self.cfg.start, self.cfg.end
        return (ex - sx) * (p[:, 1] - sy) - (ey - sy) * (p[:, 0] - sx)

    def _within_segment(self, p: np.ndarray) -> np.ndarray:
        s, e = np.asarray(self.cfg.start), np.asarray(self.cfg.end)
        d = e - s
        proj = ((p - s) @ d) / max(float(d @ d), 1e-9)
        return (proj >= 0) & (proj <= 1)

    def trigger(self, frame: Frame, dets: Detections) -> list[Alert]:
        cand = self._candidates(dets)
        assert cand.tracker_id is not None
        t = frame.timestamp
        state = {
            k: v for k, v in self._side.get(frame.camera_id, {}).items() if t - v[1] <= STALE_S
        }
        sides = self._side_of(cand.anchors)
        on_segment = self._within_segment(cand.anchors)
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
        who = ", ".join(f"{_label(cand, i)} ({d})" for i, d in zip(fired, directions))
        ids = [int(cand.tracker_id[i]) for i in fired]
        text = f"{who} crossed line '{self.cfg.name}' at t={t:.1f}s"
        data = {"line": [list(self.cfg.start), list(self.cfg.end)], "directions": directions}
        return [self._emit(frame, ids, float(cand.confidence[fired].max()), text, data)]

    def reset(self, camera_id: str) -> None:
        super().reset(camera_id)
        self._side.pop(camera_id, None)


class Loitering(Rule):
    """A tracked object staying ``seconds`` or longer (inside the polygon when one is given)."""

    kind = "loitering"
    cfg: LoiterRule

    def __init__(self, cfg: LoiterRule) -> None:
        super().__init__(cfg)
        self._since: dict[str, dict[int, list[float]]] = {}  # id -> [entered, last_seen, alerted]

    def trigger(self, frame: Frame, dets: Detections) -> list[Alert]:
        cand = self._candidates(dets)
        assert cand.tracker_id is not None
        t = frame.timestamp
        state = {
            k: v for k, v in self._since.get(frame.camera_id, {}).items() if t - v[1] <= STALE_S
        }
        mask = inside(self.cfg.polygon, cand.anchors)
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
        who = ", ".join(f"{_label(cand, i)} for {d:.1f}s" for i, d in zip(fired, dwell))
        text = f"loitering {where}: {who} (limit {self.cfg.seconds:.0f}s)"
        ids = [int(cand.tracker_id[i]) for i in fired]
        data = {"dwell_s": dwell, "limit_s": self.cfg.seconds, "polygon": self.cfg.polygon}
        return [self._emit(frame, ids, max(dwell) / self.cfg.seconds, text, data)]

    def reset(self, camera_id: str) -> None:
        super().reset(camera_id)
        self._since.pop(camera_id, None)


class Crowding(Rule):
    """More than ``max_count`` objects (inside the polygon) for ``min_seconds``; once per episode."""

    kind = "crowd"
    cfg: CrowdRule

    def __init__(self, cfg: CrowdRule) -> None:
        super().__init__(cfg)
        self._above: dict[str, list[float]] = {}  # camera -> [since, alerted]

    def trigger(self, frame: Frame, dets: Detections) -> list[Alert]:
        cand = self._candidates(dets, need_ids=False)
        mask = inside(self.cfg.polygon, cand.anchors)
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
        data = {"count": count, "limit": self.cfg.max_count, "polygon": self.cfg.polygon}
        return [self._emit(frame, ids, count / max(self.cfg.max_count, 1), text, data)]

    def reset(self, camera_id: str) -> None:
        super().reset(camera_id)
        self._above.pop(camera_id, None)


class RuleEngine:
    """All configured rules, evaluated together on each tracked frame.

    Example:
        >>> engine = RuleEngine(RulesConfig())
        >>> engine.rules
        []
    """

    def __init__(self, cfg: RulesConfig) -> None:
        self.rules: list[Rule] = [
            *(ZoneIntrusion(r) for r in cfg.zones),
            *(LineCrossing(r) for r in cfg.lines),
            *(Loitering(r) for r in cfg.loitering),
            *(Crowding(r) for r in cfg.crowd),
        ]

    def evaluate(self, frame: Frame, dets: Detections) -> list[Alert]:
        """Alerts started or updated on this frame by any rule."""
        return [a for rule in self.rules for a in rule.trigger(frame, dets)]

    def reset(self, camera_id: str) -> None:
        """Forget one camera's state in every rule."""
        for rule in self.rules:
            rule.reset(camera_id)
