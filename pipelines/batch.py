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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from monitor.config import MonitorConfig
from monitor.pipeline import Pipeline
from monitor.sources import FrameSource, InputSpec, SourceError, redact
from monitor.types import Frame
from pipelines.sink import CameraOutput, OutputSink

log = logging.getLogger(__name__)
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


def _summary(source: FrameSource, cam: CameraOutput, run_id: str, elapsed: float) -> dict[str, Any]:
    return {
        "status": "done",
        "name": source.spec.name,
        "input": redact(str(source.spec.path)),
        "run_id": run_id,
        "frames": cam.frames,
        "source_fps": source.fps,
        "fps_achieved": round(cam.frames / elapsed, 2) if elapsed > 0 else None,
        "seconds": round(elapsed, 2),
        "skipped_frames": list(source.skipped),
        "detections_per_class": dict(cam.counts),
        "alerts": [
            {"id": a.id, "kind": a.kind, "rule": a.rule, "severity": a.severity,
             "start_time": a.start_time, "end_time": a.end_time,
             "track_ids": list(a.track_ids), "explanation": a.explanation,
             "snapshot": a.snapshot_path, "clip": a.clip_path}
            for a in cam.sorted_alerts()
        ],
    }  # fmt: skip


def process_input(
    source: FrameSource, pipeline: Pipeline, sink: OutputSink, batch: int,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Every frame of one input through the pipeline into the sink; returns its summary.

    The camera's writers are closed even when the input fails half-way.
    """
    name = source.spec.name
    pipeline.reset(name)
    cam = sink.open(name, source.fps, source.size, files=True)
    started = time.perf_counter()
    try:
        for chunk in _batches(source.frames(), batch):
            for res in pipeline.step_batch(chunk):
                sink.write(res)
            if progress:
                progress(name, cam.frames, source.frame_count)
    finally:
        sink.close(name)
    assert sink.run_id is not None
    return _summary(source, cam, sink.run_id, time.perf_counter() - started)


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
    sink = OutputSink(cfg, out_dir, pipeline)
    sink.begin_run(uuid.uuid4().hex, "batch")
    outcomes: list[InputOutcome] = []
    try:
        for spec in inputs:
            outcome = _process_one(cfg, spec, out_dir, pipeline, sink, force, fps, progress)
            outcomes.append(outcome)
            if on_input_done:
                on_input_done(outcome)
    finally:
        failed = [o.name for o in outcomes if o.status == "failed"]
        status = "failed" if failed else "done"
        sink.finish_run(status, {"inputs": len(inputs), "failed": failed})
        sink.close_all()
    return outcomes


def _process_one(
    cfg: MonitorConfig, spec: InputSpec, out_dir: Path, pipeline: Pipeline, sink: OutputSink,
    force: bool, fps: float | None, progress: ProgressFn | None,
) -> InputOutcome:  # fmt: skip
    if not force and is_finished(out_dir, spec.name):
        return InputOutcome(spec.name, str(spec.path), "skipped")
    summary_path = out_dir / spec.name / "summary.json"
    summary_path.unlink(missing_ok=True)
    try:
        source = FrameSource.open(spec, fps)
        sink.record_source(spec.name, redact(str(spec.path)), "running", fps=source.fps)
        summary = process_input(source, pipeline, sink, cfg.model.batch, progress)
    except (SourceError, OSError, RuntimeError, ValueError) as err:
        log.error("input %s failed: %s", spec.path, err)
        sink.record_source(spec.name, redact(str(spec.path)), "failed", error=str(err))
        return InputOutcome(spec.name, str(spec.path), "failed", str(err))
    _write_json_atomic(summary_path, summary)
    sink.record_source(
        spec.name, redact(str(spec.path)), "done", frames=summary["frames"], fps=source.fps
    )
    return InputOutcome(spec.name, str(spec.path), "done", summary=summary)
