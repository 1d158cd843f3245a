"""What every rule shares: its config base, per-camera alert episodes, class filtering, geometry.

One event is one alert: triggers within ``cooldown_s`` of the previous one update the open alert
(same id, later ``end_time``, more track ids) instead of raising a new one.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from monitor.schema import ConfigBase, Point, Severity
from monitor.types import Alert, Detections, Frame

STALE_S = 5.0  # per-track state older than this (object gone) is forgotten
ZONE_COLOR = (0, 200, 255)
LINE_COLOR = (255, 0, 200)
_ALERT_NS = uuid.UUID("5b0e6a8e-2f43-4e0c-9a43-0d3c6f1f8c11")


def alert_id(camera_id: str, rule: str, timestamp: float, frame_index: int) -> str:
    """Deterministic id, so re-processing a file updates its alerts instead of duplicating them."""
    return uuid.uuid5(_ALERT_NS, f"{camera_id}|{rule}|{timestamp:.3f}|{frame_index}").hex


def inside(polygon: Sequence[Point] | np.ndarray | None, points: np.ndarray) -> np.ndarray:
    """Boolean mask of ``(N, 2)`` points inside (or on) the polygon; all True when None."""
    if polygon is None:
        return np.ones(len(points), dtype=bool)
    contour = np.asarray(polygon, dtype=np.float32).reshape(-1, 1, 2)
    return np.array(
        [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in points],
        dtype=bool,
    )


def check_polygon(v: list[Point] | None) -> list[Point] | None:
    """A polygon needs three points (None = whole frame where the rule allows it)."""
    if v is not None and len(v) < 3:
        raise ValueError("a polygon needs at least 3 points")
    return v


class RuleConfigBase(ConfigBase):
    """Fields every rule has."""

    name: str = Field(description="Unique rule name, shown in alerts.")
    classes: list[str] | None = Field(None, description="Class names the rule applies to.")
    severity: Severity = Field("warning", description="Alert severity.")
    cooldown_s: float = Field(30.0, ge=0, description="Seconds before the rule may fire again.")
    units: Literal["px", "norm"] = Field(
        "px", description="Coordinates in pixels of the camera, or normalised 0-1 (x / width)."
    )
    min_score: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Median confidence over a track's last 10 frames it must reach before this "
        "rule counts it; once reached, the track counts until it is gone (Frigate's `threshold`). "
        "A static look-alike the detector scores low (a table as a person at 0.26) never "
        "reaches it; a person whose score dips for a frame keeps counting. Rules without "
        "tracks (crowding) drop boxes under it.",
    )

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v


def draw_polygon(img: np.ndarray, name: str, poly: np.ndarray, color: tuple[int, int, int]) -> None:
    """Outline a rule's polygon with its name at the first vertex."""
    pts = np.asarray(poly, dtype=np.int32).reshape(-1, 1, 2)
    cv2.polylines(img, [pts], True, color, 2, cv2.LINE_AA)
    cv2.putText(
        img, name, tuple(int(v) for v in pts[0, 0]), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 1
    )


@dataclass
class _Episode:
    alert: Alert
    last_trigger: float


class Rule:
    """Base: class filter, coordinate scaling and cooldown-merged alert episodes per camera.

    A rule type is one module: its config class (``config``), ``trigger`` and ``draw``; it is
    listed once in ``monitor.rules.RULE_TYPES`` under its config section name.
    """

    kind: ClassVar[str] = "rule"
    config: ClassVar[type[RuleConfigBase]] = RuleConfigBase

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self._episodes: dict[str, _Episode] = {}
        self._scores: dict[str, dict[int, tuple[deque[float], float, bool]]] = {}

    def scaled(self, points: Sequence[Point] | None, shape: tuple[int, int]) -> np.ndarray | None:
        """``(K, 2)`` pixel coordinates of config points for a frame of ``(height, width)``."""
        if points is None:
            return None
        arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if self.cfg.units == "norm":
            arr = arr * np.array([shape[1], shape[0]], dtype=np.float64)
        return arr

    def _candidates(self, frame: Frame, dets: Detections, need_ids: bool = True) -> Detections:
        """The detections this rule looks at: its classes, tracked (``need_ids``), and past
        ``min_score``."""
        mask = dets.class_mask(self.cfg.classes)
        if need_ids:
            if dets.tracker_id is None:
                return dets[np.zeros(len(dets), dtype=bool)]
            mask &= dets.tracker_id >= 0
            if self.cfg.min_score > 0:
                mask &= self._confirmed(frame, dets)
        elif self.cfg.min_score > 0:
            mask &= dets.confidence >= self.cfg.min_score
        return dets[mask]

    def _confirmed(self, frame: Frame, dets: Detections) -> np.ndarray:
        """Per row: has its track's median score over its last 10 frames reached ``min_score``?"""
        assert dets.tracker_id is not None
        t = frame.timestamp
        state = {
            k: v for k, v in self._scores.get(frame.camera_id, {}).items() if t - v[1] <= STALE_S
        }
        ok = np.zeros(len(dets), dtype=bool)
        for i, (tid, score) in enumerate(zip(dets.tracker_id.tolist(), dets.confidence.tolist())):
            if tid < 0:
                continue
            history, _, passed = state.get(tid, (deque(maxlen=10), t, False))
            history.append(float(score))
            passed = passed or float(np.median(history)) >= self.cfg.min_score
            state[tid] = (history, t, passed)
            ok[i] = passed
        self._scores[frame.camera_id] = state
        return ok

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

    def draw(self, img: np.ndarray) -> None:
        """Draw the rule's geometry on an annotated frame (in place)."""
        raise NotImplementedError

    def reset(self, camera_id: str) -> None:
        """Forget a camera's state."""
        self._episodes.pop(camera_id, None)
        self._scores.pop(camera_id, None)


class PolygonRule(Rule):
    """A rule that watches an area, ``cfg.polygon`` (None = the whole frame: nothing drawn)."""

    def draw(self, img: np.ndarray) -> None:
        poly = self.scaled(self.cfg.polygon, img.shape[:2])
        if poly is not None:
            draw_polygon(img, self.cfg.name, poly, ZONE_COLOR)


def label(dets: Detections, i: int) -> str:
    """``person #7``: class name and track id of row ``i``."""
    assert dets.tracker_id is not None
    return f"{dets.names[i]} #{int(dets.tracker_id[i])}"
