"""The one output sink both drivers feed: everything that happens to a ``FrameResult`` after the stages.

Per camera (a batch input is a camera too) it annotates the frame, blacks out privacy masks,
keeps the pre-roll clip buffer, writes evidence for new alerts (snapshot, clip, anomaly heatmap),
upserts alerts, counts detections per minute and, when asked, writes the per-input files
(annotated video, detections.jsonl). It owns the ``Store``: the single writer of a run.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from monitor.annotate import FrameAnnotator, apply_masks
from monitor.anomaly.explain import overlay
from monitor.clips import ClipRecorder, PacketClips, clip_recorder
from monitor.config import MonitorConfig
from monitor.notify.outbox import Outbox
from monitor.pipeline import FrameResult, Pipeline
from monitor.privacy import Redactor
from monitor.recording import (
    JsonlWriter,
    VideoWriter,
    frame_record,
    open_video_writer,
    save_snapshot,
)
from monitor.redact import redact
from monitor.store import Store
from monitor.types import Alert, Frame

log = logging.getLogger(__name__)
BUCKET_S = 60.0
DEFAULT_LIVE_FPS = 10.0


def _redacted(value: Any) -> Any:
    """A JSON-like config with credentials removed from every string (camera URIs)."""
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return redact(value) if isinstance(value, str) else value


@dataclass
class CameraOutput:
    """What the sink holds for one camera: its writers, counters and alerts so far."""

    camera_id: str
    folder: str
    fps: float
    masks: list[np.ndarray]
    clips: ClipRecorder | PacketClips
    video: VideoWriter | None = None
    jsonl: JsonlWriter | None = None
    frames: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    buckets: dict[tuple[float, str], list[int]] = field(default_factory=dict)
    alerts: dict[str, Alert] = field(default_factory=dict)
    last_flush: float = field(default_factory=time.monotonic)

    def sorted_alerts(self) -> list[Alert]:
        """Alerts of this camera by start time."""
        return sorted(self.alerts.values(), key=lambda a: a.start_time)


class OutputSink:
    """Writes results under ``media_root`` and into the store; one per run.

    Example:
        >>> sink = OutputSink(cfg, Path("out"), pipeline)  # doctest: +SKIP
        >>> sink.open("cam", fps=7, size=(768, 576), files=True)  # doctest: +SKIP
        >>> image = sink.write(result)  # doctest: +SKIP
        >>> summary = sink.close("cam")  # doctest: +SKIP
    """

    def __init__(
        self, cfg: MonitorConfig, media_root: Path, pipeline: Pipeline, run_id: str | None = None,
        flush_every_s: float = 10.0,
    ) -> None:  # fmt: skip
        self.cfg, self.pipeline = cfg, pipeline
        self.media_root = Path(media_root)
        self.media_root.mkdir(parents=True, exist_ok=True)
        store_path = cfg.store.path or self.media_root / "monitor.db"
        self.store = Store(store_path, cfg.store.wal, cfg.store.busy_timeout_ms)
        self.store.set_media_root(self.media_root)
        self.run_id = run_id
        self.flush_every_s = flush_every_s
        self.annotator = FrameAnnotator()
        self.cameras: dict[str, CameraOutput] = {}
        self.outbox = Outbox(cfg.notify, self.store, {c.id: c.notify for c in cfg.cameras})
        self.redactor = Redactor({c.id: c.redact for c in cfg.cameras})

    # run bookkeeping: the drivers record through the sink so the store has one writer
    def begin_run(self, run_id: str, kind: str) -> None:
        """Record the start of a run; later alerts and counts belong to it."""
        self.run_id = run_id
        self.store.begin_run(run_id, kind, _redacted(self.cfg.model_dump(mode="json")))

    def finish_run(self, status: str, summary: dict[str, Any]) -> None:
        """Record a run's end state."""
        assert self.run_id is not None
        self.store.finish_run(self.run_id, status, summary)

    def record_source(self, camera_id: str, uri: str, status: str, **kw: Any) -> None:
        """Upsert one input's (or camera's) processing state; ``uri`` must be redacted already."""
        assert self.run_id is not None
        self.store.record_source(self.run_id, camera_id, uri, status, **kw)

    def _masks(self, camera_id: str, size: tuple[int, int]) -> list[np.ndarray]:
        cam = self.cfg.camera(camera_id)
        if cam is None:
            return []
        scale = np.array(size, dtype=np.float64) if cam.mask_units == "norm" else np.ones(2)
        return [np.asarray(p, dtype=np.float64) * scale for p in cam.privacy_masks]

    def open(
        self, camera_id: str, fps: float, size: tuple[int, int], files: bool = True,
        folder: str | None = None,
    ) -> CameraOutput:  # fmt: skip
        """Start one camera's outputs; ``files`` adds annotated video and JSONL (batch inputs)."""
        outs = self.cfg.outputs
        name = folder or camera_id
        (self.media_root / name).mkdir(parents=True, exist_ok=True)
        video = None
        if files and outs.annotated_video:
            path = self.media_root / name / "annotated.mp4"
            # a keyframe a second: alert clips are copied out of this stream, from a keyframe
            keyint = max(1, round(fps)) if outs.clips else None
            video = open_video_writer(
                path, fps, size, outs.video_codec, outs.video_preset, keyint=keyint
            )
        clips = clip_recorder(
            self.media_root, fps, outs.clip_seconds, outs.video_codec, outs.video_preset, video
        )
        cam = CameraOutput(camera_id, name, fps, self._masks(camera_id, size), clips, video)
        if files and outs.jsonl:
            cam.jsonl = JsonlWriter(self.media_root / name / "detections.jsonl")
        self.cameras[camera_id] = cam
        return cam

    def write(self, res: FrameResult) -> np.ndarray:
        """Take one result: files, evidence, alert rows, counts; returns the annotated image."""
        frame = res.frame
        cam = self.cameras.get(frame.camera_id)
        if cam is None:
            cam = self.open(frame.camera_id, DEFAULT_LIVE_FPS, frame.shape[::-1], files=False)
        if cam.masks:
            frame = Frame(frame.camera_id, frame.index, frame.timestamp,
                          apply_masks(frame.image, cam.masks))  # fmt: skip
        frame = self.redactor.apply(frame, res.detections)
        rules = self.pipeline.rules_for(frame.camera_id)
        image = self.annotator.annotate(
            frame, res.detections, res.alerts, res.anomaly, rules, cam.masks
        )
        cam.clips.add(image)
        self._count(cam, res)
        fresh = [self._with_evidence(cam, a, image, frame, res) for a in res.alerts]
        if fresh:
            self.store.write_alerts(fresh, self.run_id)
            self.outbox.enqueue(fresh, self.run_id)
        if cam.video is not None:
            cam.video.write(image)
        if cam.jsonl is not None:
            cam.jsonl.write(frame_record(frame, res.detections, list(res.alerts)))
        cam.frames += 1
        if time.monotonic() - cam.last_flush >= self.flush_every_s:
            self._flush_counts(cam)
        return image

    def _with_evidence(
        self, cam: CameraOutput, alert: Alert, image: np.ndarray, frame: Frame, res: FrameResult
    ) -> Alert:
        old = cam.alerts.get(alert.id)
        if old is not None:
            alert = alert.with_evidence(old.snapshot_path, old.clip_path, old.heatmap_path)
        else:
            # Evidence is best effort: a full or read-only disk must not lose the alert itself,
            # which goes to the store (possibly on another disk) with the evidence it could get.
            outs, base = self.cfg.outputs, f"{cam.folder}/alerts/{alert.id}"
            snap = clip = heat = None
            try:
                if outs.snapshots:
                    snap = save_snapshot(self.media_root, f"{base}.jpg", image)
                if outs.clips:
                    clip = cam.clips.start(f"{base}.mp4")
                if alert.kind == "anomaly" and res.anomaly and res.anomaly.heatmap is not None:
                    heat_img = overlay(frame.image, res.anomaly.heatmap)
                    heat = save_snapshot(self.media_root, f"{base}_heatmap.jpg", heat_img)
            except OSError as err:  # VideoWriterError is an OSError too
                log.error("alert %s kept without full evidence: %s", alert.id, err)
            alert = alert.with_evidence(snap, clip, heat)
        cam.alerts[alert.id] = alert
        return alert

    def _count(self, cam: CameraOutput, res: FrameResult) -> None:
        per_frame = Counter(res.detections.names)
        cam.counts.update(per_frame)
        bucket = float(res.frame.timestamp // BUCKET_S * BUCKET_S)
        for cls, n in per_frame.items():
            entry = cam.buckets.setdefault((bucket, cls), [0, 0, 0])
            entry[0] += n
            entry[1] = max(entry[1], n)
            entry[2] += 1

    def _flush_counts(self, cam: CameraOutput) -> None:
        cam.last_flush = time.monotonic()
        if cam.buckets and self.run_id is not None:
            rows = {k: (v[0], v[1], v[2]) for k, v in cam.buckets.items()}
            self.store.write_detection_counts(self.run_id, cam.camera_id, rows)

    def close(self, camera_id: str) -> CameraOutput | None:
        """Finish a camera: open clips, files and its counts; returns what it recorded."""
        cam = self.cameras.pop(camera_id, None)
        if cam is None:
            return None
        errors: list[Exception] = []
        # the video first: clips cut from its packets get the last ones from its encoder's flush
        closers: list[Callable[[], None]] = [cam.video.release] if cam.video is not None else []
        closers += [cam.clips.close]
        closers += [cam.jsonl.close] if cam.jsonl is not None else []
        for closer in [*closers, lambda: self._flush_counts(cam)]:
            try:  # each one, so a failed clip (disk full) still leaves counts in the store
                closer()
            except Exception as err:  # noqa: BLE001 - the first is re-raised below
                errors.append(err)
        if errors:
            raise errors[0]
        return cam

    def close_all(self) -> None:
        """Finish every camera and close the store."""
        try:
            for camera_id in list(self.cameras):
                self.close(camera_id)
        finally:
            self.outbox.close()
            self.store.close()

    # live service additions: health alerts and rows, clips of a camera gone quiet, bounded counts
    def raise_alert(self, alert: Alert, image: np.ndarray | None = None) -> Alert:
        """Upsert an alert raised outside the stages (camera health); a new one gets a snapshot
        of ``image`` (the camera's last annotated frame) when there is one."""
        if image is not None and alert.snapshot_path is None and self.cfg.outputs.snapshots:
            cam = self.cameras.get(alert.camera_id)
            folder = cam.folder if cam is not None else alert.camera_id
            try:
                path = save_snapshot(self.media_root, f"{folder}/alerts/{alert.id}.jpg", image)
                alert = alert.with_evidence(path)
            except OSError as err:
                log.error("health alert %s kept without a snapshot: %s", alert.id, err)
        self.store.write_alerts([alert], self.run_id)
        self.outbox.enqueue([alert], self.run_id)
        return alert

    def write_health(self, samples: Sequence[Any]) -> None:
        """Append camera health rows (``monitor.health.HealthSample``) to the store."""
        from monitor.store.health import write_health

        write_health(self.store, self.run_id, samples)

    def finish_clips(self, camera_id: str) -> None:
        """Finish a camera's open clips now (it went offline: no post-roll frames will come)."""
        cam = self.cameras.get(camera_id)
        if cam is not None:
            cam.clips.close()

    def flush_counts(self, camera_id: str, keep_s: float = 2 * BUCKET_S) -> None:
        """Write a camera's per-minute counts and forget buckets older than ``keep_s`` (frame
        time), so a camera watched for days holds only the current minutes in memory."""
        cam = self.cameras.get(camera_id)
        if cam is None or not cam.buckets:
            return
        self._flush_counts(cam)
        newest = max(b for b, _ in cam.buckets)
        for key in [k for k in cam.buckets if k[0] < newest - keep_s]:
            del cam.buckets[key]
