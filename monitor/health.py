"""Camera health: what each camera is doing (state, fps in/out, drops, latency) and when to worry.

``CameraHealthModel`` is fed every processed frame (its capture-to-result latency and a 32x24 grey
thumbnail for the picture checks) and the camera's own counters; ``sample`` gives the row the store
and the metrics get, ``alerts`` the health alerts: offline too long, frozen picture, view dark or
covered, processing lagging its wanted fps. Each condition is one alert episode (one id, its end
time extended while it lasts), like a rule's. No threads, files or SQLite here.
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from monitor.config import LiveConfig
from monitor.types import Alert

STATES = ("online", "learning", "connecting", "offline", "stalled", "stopped")
ONLINE, LEARNING = "online", "learning"
_THUMB = (32, 24)
_FROZEN_DIFF = 0.5  # mean absolute grey difference (0-255) below which two frames are the same
_LATENCY_WINDOW = 300
_RATE_WINDOW = 30
RULES = {  # rule -> severity
    "offline": "critical",
    "frozen": "warning",
    "dark": "warning",
    "lagging": "warning",
}


@dataclass(frozen=True)
class HealthSample:
    """One health reading of one camera: a ``camera_health`` row and a metrics update."""

    camera_id: str
    time: float
    state: str
    fps_in: float
    fps_out: float
    frames_in: int
    frames_out: int
    dropped: int
    reconnects: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    error: str | None = None


@dataclass(frozen=True)
class SourceCounters:
    """What the capture side knows: state, capture fps and counters (``CameraHealth`` fields)."""

    state: str
    fps: float = 0.0
    frames_read: int = 0
    reconnects: int = 0
    dropped: int = 0
    last_error: str | None = None


@dataclass
class _Episode:
    alert: Alert
    open: bool = True


@dataclass
class CameraHealthModel:
    """Health of one camera, updated from the output loop (one thread; no locks).

    Args:
        camera_id: The camera.
        cfg: Thresholds (``live:`` config section).
        wanted_fps: Frames per second the camera should be processed at (detect fps), if known.

    Example:
        >>> from monitor.config import LiveConfig
        >>> m = CameraHealthModel("door", LiveConfig(learning_s=0, dark_alert_s=1))
        >>> black = np.zeros((48, 64, 3), np.uint8)
        >>> for t in (0.0, 0.5, 1.5):
        ...     m.observe(black, captured_at=t, now=t + 0.1)
        >>> [a.rule for a in m.alerts(SourceCounters("online"), now=1.6)]
        ['dark']
    """

    camera_id: str
    cfg: LiveConfig
    wanted_fps: float | None = None
    frames_out: int = 0
    _latency: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCY_WINDOW))
    _out_times: deque[float] = field(default_factory=lambda: deque(maxlen=_RATE_WINDOW))
    _thumb: np.ndarray | None = None
    _since: dict[str, float] = field(default_factory=dict)  # condition -> first seen
    _online_since: float | None = None
    _episodes: dict[str, _Episode] = field(default_factory=dict)
    _last_index: int = 0

    def observe(self, image: np.ndarray, captured_at: float, now: float, index: int = 0) -> None:
        """One processed frame: its latency, output rate and picture (frozen / dark / covered)."""
        self.frames_out += 1
        self._last_index = index
        self._latency.append(max(now - captured_at, 0.0))
        self._out_times.append(now)
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        thumb = cv2.resize(grey, _THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)
        same = self._thumb is not None and float(np.abs(thumb - self._thumb).mean()) < _FROZEN_DIFF
        self._thumb = thumb
        dark = (
            float(thumb.mean()) < self.cfg.dark_level or float(thumb.std()) < self.cfg.covered_std
        )
        self._track("frozen", same, now)
        self._track("dark", dark, now)

    def _track(self, condition: str, active: bool, now: float) -> None:
        if active:
            self._since.setdefault(condition, now)
        else:
            self._since.pop(condition, None)

    def fps_out(self, now: float) -> float:
        """Processed frames per second over the last frames (0 when none came for 2 s)."""
        t = self._out_times
        if len(t) < 2 or now - t[-1] > max(2.0, 2 * (t[-1] - t[-2])):
            return 0.0
        return (len(t) - 1) / (t[-1] - t[0]) if t[-1] > t[0] else 0.0

    def state(self, src: SourceCounters, now: float) -> str:
        """The source's state, with ``learning`` for the warm-up after it comes online."""
        if src.state != ONLINE:
            self._online_since = None
            return src.state
        if self._online_since is None:
            self._online_since = now
        return LEARNING if now - self._online_since < self.cfg.learning_s else ONLINE

    def sample(self, src: SourceCounters, now: float, extra_dropped: int = 0) -> HealthSample:
        """The health row for ``now``; ``extra_dropped`` adds the live driver's own drops."""
        lat = np.asarray(self._latency, dtype=np.float64) * 1000
        p50, p95 = (float(v) for v in np.percentile(lat, [50, 95])) if lat.size else (None, None)
        return HealthSample(
            self.camera_id, now, self.state(src, now), round(src.fps, 2),
            round(self.fps_out(now), 2), src.frames_read, self.frames_out,
            src.dropped + extra_dropped, src.reconnects,
            None if p50 is None else round(p50, 1), None if p95 is None else round(p95, 1),
            src.last_error,
        )  # fmt: skip

    def _conditions(self, src: SourceCounters, now: float) -> dict[str, tuple[bool, str]]:
        state = self.state(src, now)
        self._track("offline", state not in (ONLINE, LEARNING), now)
        if state != ONLINE:  # picture and rate checks wait for the warm-up and for frames
            for c in ("frozen", "dark", "lagging"):
                self._since.pop(c, None)
        else:
            wanted = min(src.fps, self.wanted_fps or src.fps)
            slow = wanted > 0 and self.fps_out(now) < self.cfg.lag_ratio * wanted
            self._track("lagging", slow, now)
        cfg = self.cfg
        limits = {"offline": cfg.offline_alert_s, "frozen": cfg.frozen_alert_s,
                  "dark": cfg.dark_alert_s, "lagging": cfg.lag_alert_s}  # fmt: skip
        return {
            rule: (rule in self._since and now - self._since[rule] >= limit, state)
            for rule, limit in limits.items()
        }

    def alerts(self, src: SourceCounters, now: float) -> list[Alert]:
        """Health alerts opened, extended or closed at ``now`` (to upsert through the sink)."""
        out = []
        for rule, (active, state) in self._conditions(src, now).items():
            ep = self._episodes.get(rule)
            if active and (ep is None or not ep.open):
                ep = self._episodes[rule] = _Episode(self._new_alert(rule, state, src, now))
            elif ep is not None and ep.open:
                data: dict[str, Any] = {**ep.alert.data, "resolved": not active}
                ep.alert = replace(ep.alert, end_time=now, data=data)
                ep.open = active
            else:
                continue
            out.append(ep.alert)
        return out

    def _new_alert(self, rule: str, state: str, src: SourceCounters, now: float) -> Alert:
        start = self._since[rule]
        explanation = {
            "offline": f"camera {state} for {now - start:.0f} s ({src.last_error or 'no frames'})",
            "frozen": f"picture unchanged for {now - start:.0f} s",
            "dark": f"view too dark or covered for {now - start:.0f} s",
            "lagging": f"processing {self.fps_out(now):.1f} fps, wanted "
            f"{min(src.fps, self.wanted_fps or src.fps):.1f} fps",
        }[rule]
        key = f"health:{self.camera_id}:{rule}:{start:.3f}"
        return Alert(
            self.camera_id, "health", rule, RULES[rule], start, now, self._last_index,
            explanation=explanation, data={"state": state, "resolved": False},
            id=uuid.uuid5(uuid.NAMESPACE_URL, key).hex,
        )  # fmt: skip
