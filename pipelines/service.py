"""The long-running live service behind ``monitor live``: cameras, health, publishing, reloads.

``LiveService`` opens every enabled camera of a config (``monitor.cameras``: reconnects with
backoff, never hangs), feeds them to one ``LiveRunner`` (one batched forward for all cameras) and
one ``OutputSink`` (the store's single writer). Everything that touches the sink runs on the
runner's output thread; the caller's thread only calls ``poll()``, which schedules health ticks
(``camera_health`` rows, health alerts, metrics), retention sweeps and picks up config changes
(file mtime or ``request_reload()``), restarting only the cameras that changed.

Example:
    >>> service = LiveService(load_config("configs/demo.yaml"), Path("out/live"))  # doctest: +SKIP
    >>> service.start(); service.poll(); service.shutdown()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from monitor.cameras import CameraError, CameraSource, open_camera
from monitor.capture import Scrubber
from monitor.config import ConfigError, MonitorConfig, ResolvedCamera, load_config
from monitor.health import LEARNING, ONLINE, CameraHealthModel, HealthSample, SourceCounters
from monitor.metrics import HealthMetrics
from monitor.pipeline import FrameResult, Pipeline
from monitor.publish import FramePublisher
from monitor.retention import enforce_retention
from monitor.rules import RuleEngine
from monitor.sources import LIVE_PREFIXES
from pipelines.live import LiveRunner
from pipelines.sink import OutputSink

log = logging.getLogger(__name__)
DEFAULT_CLIP_FPS = 10.0


@dataclass
class LiveCamera:
    """A running camera: its merged config, source, health model and what the terminal shows."""

    config: ResolvedCamera
    source: CameraSource
    health: CameraHealthModel
    online: bool = False
    last_image: np.ndarray | None = field(default=None, repr=False)
    last_alert: str | None = None
    evidence: dict[str, str] = field(default_factory=dict)  # health alert id -> snapshot path


@dataclass(frozen=True)
class CameraStatus:
    """One terminal line: the newest health sample of a camera and its last alert."""

    camera_id: str
    sample: HealthSample | None
    last_alert: str | None


def _serve_metrics(port: int | None) -> HealthMetrics:
    """The Prometheus endpoint; a port that cannot be bound is a config error naming the field."""
    try:
        return HealthMetrics(port)
    except OSError as err:
        raise ConfigError(
            f"live.metrics_port: cannot serve metrics on 127.0.0.1:{port} "
            f"({err.strerror or err}); pick a free port, or 0 for none"
        ) from None


class LiveService:
    """Runs the configured cameras until ``shutdown()``; see the module docstring."""

    def __init__(
        self, cfg: MonitorConfig, media_root: Path, config_path: Path | None = None,
        pipeline: Pipeline | None = None, run_id: str | None = None,
    ) -> None:  # fmt: skip
        self.cfg, self.config_path = cfg, config_path
        live = cfg.live
        self.metrics = _serve_metrics(live.metrics_port)  # first: a busy port fails in a second
        try:
            self.pipeline = pipeline or Pipeline.from_config(cfg)
            self.sink = OutputSink(cfg, Path(media_root), self.pipeline)
        except BaseException:
            self.metrics.close()
            raise
        self.run_id = run_id or f"live-{uuid.uuid4().hex[:12]}"
        self.runner = LiveRunner(self.pipeline, self._on_result, queue_size=live.queue_size,
                                 batch=max(cfg.model.batch, 1), newest=True,
                                 out_size=8)  # fmt: skip
        self.publisher = (
            FramePublisher(self.sink.media_root, live.publish_fps) if live.publish_fps else None
        )
        self.cameras: dict[str, LiveCamera] = {}
        self.samples: dict[str, HealthSample] = {}
        self._lock = threading.Lock()
        self._reload_requested = threading.Event()
        self._tick_pending = threading.Event()
        self._mtime = self._config_mtime()
        now = time.monotonic()
        self._next = {"health": now + live.health_interval_s, "reload": now,
                      "retention": now + live.retention_interval_s}  # fmt: skip

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Record the run, start the loops and every enabled camera."""
        self.sink.begin_run(self.run_id, "live")
        self.runner.start()
        for cam in self.cfg.cameras:
            merged = self.cfg.camera(cam.id)
            if cam.enabled and merged is not None:
                self._start_camera(merged)

    def poll(self) -> None:
        """Call every fraction of a second from the main thread: schedules ticks and reloads."""
        now, live = time.monotonic(), self.cfg.live
        if now >= self._next["health"] and not self._tick_pending.is_set():
            self._next["health"] = now + live.health_interval_s
            self._tick_pending.set()
            self.runner.call_soon(self._health_tick)
        if now >= self._next["retention"]:
            self._next["retention"] = now + live.retention_interval_s
            self.runner.call_soon(self._retention_tick)
        if self._reload_requested.is_set() or now >= self._next["reload"]:
            self._next["reload"] = now + live.reload_poll_s
            mtime = self._config_mtime()
            if self._reload_requested.is_set() or mtime != self._mtime:
                self._reload_requested.clear()
                self._mtime = mtime
                self.reload()

    def request_reload(self) -> None:
        """Re-read the config file at the next ``poll()`` (SIGHUP handler)."""
        self._reload_requested.set()

    def status(self) -> list[CameraStatus]:
        """What the terminal shows, one entry per running camera."""
        with self._lock:
            cams = list(self.cameras.items())
        return [CameraStatus(cid, self.samples.get(cid), c.last_alert) for cid, c in cams]

    def shutdown(self) -> dict[str, Any]:
        """Stop cameras and loops, finish clips, mark cameras offline, close the store."""
        with self._lock:
            cams = list(self.cameras.values())
        for cam in cams:
            cam.source.stop()
        self.runner.stop()
        stats = self.runner.join(timeout=15)
        now, final = time.time(), []
        for cam in cams:  # the output thread has ended: the sink is ours now
            sample = self._sample(cam, now)
            final.append(replace(sample, state="offline", fps_in=0.0, fps_out=0.0,
                                 error="service stopped"))  # fmt: skip
            self.sink.record_source(cam.config.id, cam.source.uri, "offline",
                                    frames=sample.frames_out, error="service stopped")  # fmt: skip
        summary = {"cameras": [c.config.id for c in cams], "processed": stats.processed,
                   "dropped": stats.dropped, "forwards": self.runner.forwards}  # fmt: skip
        try:
            if final:
                self.sink.write_health(final)
                self.metrics.update(final)
            self.sink.finish_run("stopped", summary)
        finally:
            self.sink.close_all()
            self.metrics.close()
        return summary

    # ------------------------------------------------------------------ cameras

    def _open_source(self, cam: ResolvedCamera) -> CameraSource:
        uri = cam.uri if cam.uri.lower().startswith(LIVE_PREFIXES) else f"file:{cam.uri}"
        opts: dict[str, Any] = {"camera_id": cam.id, "open_timeout": self.cfg.live.open_timeout_s,
                                "read_timeout": self.cfg.live.read_timeout_s}  # fmt: skip
        if uri.lower().startswith("file:"):
            opts.update(loop=cam.loop, fps=cam.fps)
        return open_camera(uri, **opts)

    def _configure_pipeline(self, cam: ResolvedCamera) -> None:
        """Give the pipeline this camera's merged rules and anomaly stage; forget its state."""
        p = self.pipeline
        p.camera_rules[cam.id] = RuleEngine(cam.rules)
        if cam.anomaly == self.cfg.anomaly:
            p.camera_anomaly[cam.id] = p.anomaly
        elif cam.anomaly.enabled:
            from monitor.anomaly import load_stage

            p.camera_anomaly[cam.id] = load_stage(cam.anomaly)
        else:
            p.camera_anomaly[cam.id] = None
        p.reset(cam.id)

    def _start_camera(self, cam: ResolvedCamera) -> None:
        try:
            self._configure_pipeline(cam)
            source = self._open_source(cam)
        except (CameraError, ConfigError, ValueError, OSError) as err:
            message = Scrubber(cam.uri).scrub(str(err))
            log.error("camera %s not started: %s", cam.id, message)
            self.runner.call_soon(lambda: self.sink.record_source(
                cam.id, Scrubber(cam.uri).scrub(cam.uri), "failed", error=message))  # fmt: skip
            return
        live = LiveCamera(cam, source, CameraHealthModel(cam.id, self.cfg.live, cam.detect_fps))
        with self._lock:
            self.cameras[cam.id] = live
        self.runner.add(cam.id, source.frames(), cam.detect_fps)
        self.runner.call_soon(lambda: self.sink.record_source(cam.id, source.uri, "connecting"))
        log.info("camera %s started (%s)", cam.id, source.uri)

    def _stop_camera(self, camera_id: str) -> None:
        with self._lock:
            cam = self.cameras.pop(camera_id, None)
        if cam is None:
            return
        cam.source.stop()
        self.runner.remove(camera_id)

        def finish() -> None:
            sample = replace(self._sample(cam, time.time()), state="offline",
                             fps_in=0.0, fps_out=0.0, error="removed from config")  # fmt: skip
            self.sink.write_health([sample])
            self.sink.record_source(camera_id, cam.source.uri, "offline", error=sample.error)
            self.sink.close(camera_id)
            self.metrics.remove(camera_id)
            self.samples.pop(camera_id, None)
            if self.publisher is not None:
                self.publisher.remove(camera_id)

        self.runner.call_soon(finish)
        log.info("camera %s stopped", camera_id)

    def reload(self) -> None:
        """Apply the config file's cameras: start new ones, restart changed ones, stop removed
        ones; the others keep running. A bad file is reported and changes nothing."""
        if self.config_path is None:
            return
        try:
            new = load_config(self.config_path)
        except ConfigError as err:
            log.error("config not reloaded (cameras keep running): %s", err)
            return
        wanted = {c.id: new.camera(c.id) for c in new.cameras if c.enabled}
        rest = {"cameras", "live"}
        if new.model_dump(exclude=rest) != self.cfg.model_dump(exclude=rest):
            log.warning("config: only camera changes apply while running; restart for the rest")
        self.cfg = self.cfg.model_copy(update={"cameras": new.cameras})
        self.sink.cfg = self.cfg  # masks of (re)started cameras come from here
        with self._lock:
            running = {cid: c.config for cid, c in self.cameras.items()}
        for cid, old in running.items():
            if wanted.get(cid) != old:
                self._stop_camera(cid)
        for cid, cam in wanted.items():
            if cam is not None and running.get(cid) != cam:
                self._start_camera(cam)

    def _config_mtime(self) -> float | None:
        try:
            return self.config_path.stat().st_mtime_ns if self.config_path else None
        except OSError:
            return None

    # ------------------------------------------------------------------ output thread

    def _on_result(self, res: FrameResult) -> None:
        frame = res.frame
        cam = self.cameras.get(frame.camera_id)
        if cam is None:
            return
        if frame.camera_id not in self.sink.cameras:
            self.sink.open(frame.camera_id, self._clip_fps(cam), frame.shape[::-1], files=False)
        image = self.sink.write(res)
        cam.health.observe(frame.image, frame.timestamp, time.time(), frame.index)
        cam.last_image = image
        if res.alerts:
            a = res.alerts[-1]
            cam.last_alert = f"{a.rule} {time.strftime('%H:%M:%S', time.localtime(a.end_time))}"
        if self.publisher is not None:
            s = self.samples.get(frame.camera_id)
            extra = {} if s is None else {"state": s.state, "fps": s.fps_out,
                                          "latency_ms": s.latency_p50_ms, "drops": s.dropped}  # fmt: skip
            self.publisher.publish(frame.camera_id, image, frame.timestamp, frame.index, extra)

    def _clip_fps(self, cam: LiveCamera) -> float:
        """Clips play at the rate frames are processed: detect fps, else the capture rate."""
        playback = getattr(cam.source, "playback", None)
        rate = cam.source.health().fps or (playback.fps if playback else None) or DEFAULT_CLIP_FPS
        return min(rate, cam.config.detect_fps or rate)

    def _sample(self, cam: LiveCamera, now: float) -> HealthSample:
        h = cam.source.health()
        src = SourceCounters(h.state, h.fps, h.frames_read, h.reconnects, h.dropped, h.last_error)
        return cam.health.sample(src, now, self.runner.dropped(cam.config.id))

    def _health_tick(self) -> None:
        """Health rows, health alerts, source states, metrics: every camera at once."""
        self._tick_pending.clear()
        now, samples = time.time(), []
        with self._lock:
            cams = list(self.cameras.values())
        for cam in cams:
            h = cam.source.health()
            src = SourceCounters(
                h.state, h.fps, h.frames_read, h.reconnects, h.dropped, h.last_error
            )
            sample = cam.health.sample(src, now, self.runner.dropped(cam.config.id))
            samples.append(sample)
            for alert in cam.health.alerts(src, now):
                known = cam.evidence.get(alert.id)
                image = cam.last_image if alert.rule != "offline" else None
                alert = self.sink.raise_alert(alert.with_evidence(known), None if known else image)
                if alert.snapshot_path:
                    cam.evidence[alert.id] = alert.snapshot_path
                cam.last_alert = f"health:{alert.rule}" + (
                    " (resolved)" if alert.data.get("resolved") else ""
                )
            online = sample.state in (ONLINE, LEARNING)
            if cam.online and not online:
                self.sink.finish_clips(cam.config.id)
            cam.online = online
            self.sink.record_source(cam.config.id, cam.source.uri, sample.state,
                                    frames=sample.frames_out, fps=sample.fps_out, error=sample.error)  # fmt: skip
            self.sink.flush_counts(cam.config.id)
        if samples:
            self.sink.write_health(samples)
            self.metrics.update(samples)
        self.samples = {**self.samples, **{s.camera_id: s for s in samples}}

    def _retention_tick(self) -> None:
        outs = self.cfg.outputs
        recent = time.time() - 2 * outs.clip_seconds - 60  # clips of recent alerts may be open
        rows = self.sink.store.conn.execute(
            "SELECT snapshot_path, clip_path, heatmap_path FROM alerts "
            "WHERE review IS NOT NULL OR end_time >= ?", (recent,)
        ).fetchall()  # fmt: skip
        protected = {p for row in rows for p in row if p}
        for camera in self.cfg.cameras:  # each camera's own settings over the live: defaults
            merged = self.cfg.camera(camera.id)
            if merged is None or merged.retention is None:
                continue
            days, gb = merged.retention.days, merged.retention.gb
            if days or gb:
                enforce_retention(self.sink.media_root, days, gb, protected, camera_id=camera.id)
