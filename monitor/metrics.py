"""Prometheus metrics of the live service: the same figures as the ``camera_health`` rows.

Served by prometheus-client's own HTTP server on 127.0.0.1 only (never all interfaces), from a
private registry (several services in one process, as in tests, do not collide). Labels are
camera ids from the config, never URIs, so no credential can reach a scrape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from monitor.health import STATES, HealthSample

_GAUGES = {  # HealthSample field -> (metric name, help)
    "fps_in": ("monitor_camera_fps_in", "Frames per second captured."),
    "fps_out": ("monitor_camera_fps_out", "Frames per second processed."),
    "frames_in": ("monitor_camera_frames_in", "Frames captured since start."),
    "frames_out": ("monitor_camera_frames_out", "Frames processed since start."),
    "dropped": ("monitor_camera_dropped_frames", "Frames dropped (queues full, detector slow)."),
    "reconnects": ("monitor_camera_reconnects", "Reconnects since start."),
    "latency_p50_ms": ("monitor_camera_latency_p50_ms", "Median capture-to-result latency."),
    "latency_p95_ms": ("monitor_camera_latency_p95_ms", "95th percentile capture-to-result."),
}


class HealthMetrics:
    """Gauges per camera, updated from health samples; ``port`` 0 or None serves nothing.

    Example:
        >>> m = HealthMetrics(None)
        >>> m.update([HealthSample("door", 0.0, "online", 7, 7, 70, 70, 0, 0, 40.0, 80.0)])
        >>> b'monitor_camera_up{camera="door"} 1.0' in m.text()
        True
    """

    def __init__(self, port: int | None, host: str = "127.0.0.1") -> None:
        self.registry = CollectorRegistry()
        self._gauges = {
            field: Gauge(name, doc, ["camera"], registry=self.registry)
            for field, (name, doc) in _GAUGES.items()
        }
        self._up = Gauge(
            "monitor_camera_up", "1 when frames flow.", ["camera"], registry=self.registry
        )
        self._state = Gauge(
            "monitor_camera_state", "1 for the camera's current state.", ["camera", "state"],
            registry=self.registry,
        )  # fmt: skip
        self._server = None
        if port:
            self._server, _ = start_http_server(port, addr=host, registry=self.registry)

    @property
    def port(self) -> int | None:
        """Port actually bound (useful when asked for port 0 in tests), None when off."""
        return None if self._server is None else int(self._server.server_port)

    def update(self, samples: Iterable[HealthSample]) -> None:
        """Set every gauge of the sampled cameras."""
        for s in samples:
            for field, gauge in self._gauges.items():
                value = getattr(s, field)
                gauge.labels(camera=s.camera_id).set(float("nan") if value is None else value)
            self._up.labels(camera=s.camera_id).set(s.state in ("online", "learning"))
            for state in STATES:
                self._state.labels(camera=s.camera_id, state=state).set(s.state == state)

    def remove(self, camera_id: str) -> None:
        """Drop a camera taken out of the config."""
        for gauge in (*self._gauges.values(), self._up):
            with contextlib.suppress(KeyError):
                gauge.remove(camera_id)
        for state in STATES:
            with contextlib.suppress(KeyError):
                self._state.remove(camera_id, state)

    def text(self) -> bytes:
        """The exposition text (what a scrape returns)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
