"""Batch mode: every frame of every input through the pipeline, outputs per input, alerts in SQLite.

Per input ``DIR/<name>/`` gets ``annotated.mp4``, ``detections.jsonl``, ``alerts/`` (snapshot JPEG
and clip per alert) and, written last, ``summary.json``: its presence marks the input finished, so
a re-run skips it unless forced. A failing input is recorded and the rest continue.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from monitor.annotate import FrameAnnotator
from monitor.config import MonitorConfig
from monitor.pipeline import FrameResult, Pipeline
from monitor.recording import (
    ClipRecorder,
    JsonlWriter,
    frame_record,
    open_video_writer,
    save_snapshot,
)
from monitor.sources import FrameSource, InputSpec, SourceError, redact
from monitor.store import Store
from monitor.types import Alert, Frame

log = logging.getLogger(__name__)
BUCKET_S = 60.0
ProgressFn = Callable[[str, int, int], None]  # (input name, frames done, frames expected)


@dataclass
class InputOutcome:
    """What happened to one input."""

    name: str
    path: str
    status: str  # "done" | "skipped" | "failed"
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def _batches(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    it = iter(frames)
    while chunk := list(islice(it, size)):
        yield chunk


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)


def is_finished(out_dir: Path, name: str) -> bool:
    """An input is finished when its summary.json exists and says so."""
    summary = out_dir / name / "summary.json"
    if not summary.is_file():
        return False
    try:
        return json.loads(summary.read_text()).get("status") == "done"
    except (json.JSONDecodeError, OSError):
        return False


class InputRun:
    """Processes one input and owns its writers; ``run`` returns the summary dict."""

    def __init__(
        self, cfg: MonitorConfig, pipeline: Pipeline, store: Store, run_id: str, out_dir: Path
    ) -> None:
        self.cfg, self.pipeline, self.store, self.run_id = cfg, pipeline, store, run_id
        self.root = out_dir
        self.annotator = FrameAnnotator(cfg.rules)
        self.counts: Counter[str] = Counter()
        self.buckets: dict[tuple[float, str], list[int]] = {}
        self.alerts: dict[str, Alert] = {}

    def run(self, source: FrameSource, progress: ProgressFn | None = None) -> dict[str, Any]:
        """Run every frame; writers are closed even when the input fails half-way."""
        name, outs = source.spec.name, self.cfg.outputs
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        video = (
            open_video_writer(folder / "annotated.mp4", source.fps, source.size, outs.video_codec)
            if outs.annotated_video
            else None
        )
        jsonl = JsonlWriter(folder / "detections.jsonl") if outs.jsonl else None
        clips = ClipRecorder(self.root, source.fps, outs.clip_seconds, outs.video_codec)
        self.pipeline.reset(name)
        frames, started = 0, time.perf_counter()
        try:
            for batch in _batches(source.frames(), self.cfg.model.batch):
                for res in self.pipeline.step_batch(batch):
                    image = self._output(res, name, clips)
                    if video is not None:
                        video.write(image)
                    if jsonl is not None:
                        jsonl.write(frame_record(res.frame, res.detections, list(res.alerts)))
                    frames += 1
                if progress:
                    progress(name, frames, source.frame_count)
        finally:
            clips.close()
            if video is not None:
                video.release()
            if jsonl is not None:
                jsonl.close()
            self._flush_counts(name)
        elapsed = time.perf_counter() - started
        return self._summary(source, frames, elapsed)

    def _output(self, res: FrameResult, name: str, clips: ClipRecorder) -> Any:
        image = self.annotator.annotate(res.frame, res.detections, res.alerts, res.anomaly)
        clips.add(image)
        self._count(res)
        fresh = []
        for alert in res.alerts:
            if alert.id in self.alerts:
                old = self.alerts[alert.id]
                alert = alert.with_evidence(
                    snapshot_path=old.snapshot_path, clip_path=old.clip_path,
                    heatmap_path=alert.heatmap_path or old.heatmap_path,
                )  # fmt: skip
            else:
                alert = self._evidence(alert, name, image, clips)
            self.alerts[alert.id] = alert
            fresh.append(alert)
        if fresh:
            self.store.write_alerts(fresh, self.run_id)
        return image

    def _evidence(self, alert: Alert, name: str, image: Any, clips: ClipRecorder) -> Alert:
        outs = self.cfg.outputs
        snap = (
            save_snapshot(self.root, f"{name}/alerts/{alert.id}.jpg", image)
            if outs.snapshots
            else None
        )
        clip = clips.start(f"{name}/alerts/{alert.id}.mp4") if outs.clips else None
        return alert.with_evidence(snapshot_path=snap, clip_path=clip)

    def _count(self, res: FrameResult) -> None:
        per_frame = Counter(res.detections.names)
        self.counts.update(per_frame)
        bucket = float(res.frame.timestamp // BUCKET_S * BUCKET_S)
        for cls, n in per_frame.items():
            entry = self.buckets.setdefault((bucket, cls), [0, 0, 0])
            entry[0] += n
            entry[1] = max(entry[1], n)
            entry[2] += 1

    def _flush_counts(self, name: str) -> None:
        if self.buckets:
            rows = {k: (v[0], v[1], v[2]) for k, v in self.buckets.items()}
            self.store.write_detection_counts(self.run_id, name, rows)

    def _summary(self, source: FrameSource, frames: int, elapsed: float) -> dict[str, Any]:
        alerts = sorted(self.alerts.values(), key=lambda a: a.start_time)
        return {
            "status": "done",
            "name": source.spec.name,
            "input": str(source.spec.path),
            "run_id": self.run_id,
            "frames": frames,
            "source_fps": source.fps,
            "fps_achieved": round(frames / elapsed, 2) if elapsed > 0 else None,
            "seconds": round(elapsed, 2),
            "skipped_frames": list(source.skipped),
            "detections_per_class": dict(self.counts),
            "alerts": [
                {"id": a.id, "kind": a.kind, "rule": a.rule, "severity": a.severity,
                 "start_time": a.start_time, "end_time": a.end_time,
                 "track_ids": list(a.track_ids), "explanation": a.explanation,
                 "snapshot": a.snapshot_path, "clip": a.clip_path}
                for a in alerts
            ],
        }  # fmt: skip


def run_batch(
    cfg: MonitorConfig,
    inputs: list[InputSpec],
    out_dir: Path,
    pipeline: Pipeline,
    force: bool = False,
    fps: float | None = None,
    progress: ProgressFn | None = None,
    on_input_done: Callable[[InputOutcome], None] | None = None,
) -> list[InputOutcome]:
    """Process inputs in order; failures are recorded per input and never stop the batch."""
    out_dir.mkdir(parents=True, exist_ok=True)
    store = Store(
        cfg.store.path or out_dir / "monitor.db", cfg.store.wal, cfg.store.busy_timeout_ms
    )
    run_id = uuid.uuid4().hex
    store.begin_run(run_id, "batch", cfg.model_dump(mode="json"))
    outcomes: list[InputOutcome] = []
    try:
        for spec in inputs:
            outcome = _process_one(
                cfg, spec, out_dir, pipeline, store, run_id, force, fps, progress
            )
            outcomes.append(outcome)
            if on_input_done:
                on_input_done(outcome)
    finally:
        failed = [o.name for o in outcomes if o.status == "failed"]
        status = "failed" if failed else "done"
        store.finish_run(run_id, status, {"inputs": len(inputs), "failed": failed})
        store.close()
    return outcomes


def _process_one(
    cfg: MonitorConfig, spec: InputSpec, out_dir: Path, pipeline: Pipeline, store: Store,
    run_id: str, force: bool, fps: float | None, progress: ProgressFn | None,
) -> InputOutcome:  # fmt: skip
    if not force and is_finished(out_dir, spec.name):
        return InputOutcome(spec.name, str(spec.path), "skipped")
    summary_path = out_dir / spec.name / "summary.json"
    summary_path.unlink(missing_ok=True)
    try:
        source = FrameSource.open(spec, fps)
        store.record_source(run_id, spec.name, redact(str(spec.path)), "running", fps=source.fps)
        summary = InputRun(cfg, pipeline, store, run_id, out_dir).run(source, progress)
    except (SourceError, OSError, RuntimeError, ValueError) as err:
        log.error("input %s failed: %s", spec.path, err)
        store.record_source(run_id, spec.name, redact(str(spec.path)), "failed", error=str(err))
        return InputOutcome(spec.name, str(spec.path), "failed", str(err))
    _write_json_atomic(summary_path, summary)
    store.record_source(
        run_id, spec.name, redact(str(spec.path)), "done", summary["frames"], source.fps
    )
    return InputOutcome(spec.name, str(spec.path), "done", summary=summary)
