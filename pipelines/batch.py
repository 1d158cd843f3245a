"""Batch mode: every frame of every input through the pipeline, outputs per input, alerts in SQLite.

Per input ``DIR/<name>/`` gets ``annotated.mp4``, ``detections.jsonl``, ``alerts/`` (snapshot JPEG
and clip per alert) and, written last, ``summary.json``: its presence (with the input's content
fingerprint) marks the input finished, so a re-run skips it unless forced. A failing input is
recorded and the rest continue; SIGINT/SIGTERM record the run and the input ``interrupted``.
One run at a time per output folder (``monitor.lock``).
"""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from monitor.config import MonitorConfig
from monitor.lock import FolderLock
from monitor.pipeline import Pipeline
from monitor.recording import write_bytes_atomic
from monitor.sources import FrameSource, InputProblem, InputSpec, SourceError, fingerprint, redact
from pipelines.batch_state import (
    claim,
    forget_input,
    is_finished,
    output_folder,
    own_run,
    recover_stale_runs,
)
from pipelines.overlap import pipelined
from pipelines.sink import CameraOutput, OutputSink

log = logging.getLogger(__name__)
ProgressFn = Callable[[str, int, int], None]  # (input name, frames done, frames expected)
INPUT_ERRORS = (SourceError, OSError, RuntimeError, ValueError, sqlite3.Error)
MAX_DET_MOST = 0.5  # share of frames at max_det above which "most frames" are out of domain

__all__ = ["InputOutcome", "is_finished", "process_input", "run_batch"]


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, unwound like Ctrl-C at a safe point (StopRequest)."""


@dataclass
class InputOutcome:
    """What happened to one input."""

    name: str
    path: str  # redacted: safe to print and store
    status: str  # "done" | "skipped" | "failed" | "interrupted"
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    write_bytes_atomic(path, json.dumps(data, indent=2, default=str).encode())


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
        "warnings": list(source.warnings),
        "detections_per_class": dict(cam.counts),
        "alerts": [
            {"id": a.id, "kind": a.kind, "rule": a.rule, "severity": a.severity,
             "start_time": a.start_time, "end_time": a.end_time,
             "track_ids": list(a.track_ids), "explanation": a.explanation,
             "snapshot": a.snapshot_path, "clip": a.clip_path}
            for a in cam.sorted_alerts()
        ],
    }  # fmt: skip


def _max_det_warning(name: str, hits: int, frames: int, max_det: int) -> str | None:
    """One warning for an input whose frames hit ``max_det``: the detector is out of its domain."""
    if not hits:
        return None
    share = "most frames" if hits > MAX_DET_MOST * frames else "some frames"
    return (
        f"{name}: {share} ({hits} of {frames}) returned the maximum {max_det} detections: the "
        "detector looks out of its domain here (another scene or camera); its boxes are "
        "unreliable, use a model trained for this footage"
    )


def process_input(
    source: FrameSource, pipeline: Pipeline, sink: OutputSink, batch: int,
    progress: ProgressFn | None = None, max_det: int | None = None,
    stop: Callable[[], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Every frame of one input through the pipeline into the sink; returns its summary.

    The camera's writers are closed even when the input fails half-way; an unfinished input's
    annotated video and JSONL are deleted (they never appear under their final names). ``stop``
    is called after each frame and raises to end the input early (a signal, see StopRequest).
    """
    name = source.spec.name
    pipeline.reset(name)
    cam = sink.open(name, source.fps, source.size, files=True)
    started, hits = time.perf_counter(), 0
    try:
        # decode, the stages and the sink overlap on three threads (pipelines.overlap)
        for res in pipelined(source.frames(), pipeline, batch):
            hits += max_det is not None and len(res.detections) >= max_det
            sink.write(res)
            if stop:
                stop()
            if progress and cam.frames % batch == 0:
                progress(name, cam.frames, source.frame_count)
    except BaseException:
        for writer in (cam.video, cam.jsonl):
            if writer is not None:
                writer.abort()
        raise
    finally:
        sink.close(name)
    if max_det and (warning := _max_det_warning(name, hits, cam.frames, max_det)):
        source.warn(warning)
    assert sink.run_id is not None
    return _summary(source, cam, sink.run_id, time.perf_counter() - started)


class StopRequest:
    """SIGINT/SIGTERM during a batch: the first asks the frame loop to stop at the next frame.

    Raising from the signal handler itself could land inside an import or a lock (a
    KeyboardInterrupt there is swallowed by importlib and can leave the run hanging), so the
    handler only records the signal and :meth:`check` raises at a safe point. A second signal
    raises at once, for a run that stopped reaching those points.
    """

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        if self.signum is not None:
            raise Interrupted(f"signal {signum} (second)")
        self.signum = signum

    def check(self) -> None:
        """Raise :class:`Interrupted` once a signal has arrived."""
        if self.signum is not None:
            raise Interrupted(f"signal {self.signum}")


@contextmanager
def _deferred_interrupts() -> Iterator[StopRequest]:
    """While active, SIGINT and SIGTERM stop the run at the next frame, recorded ``interrupted``."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _safe(what: str, fn: Callable[[], None]) -> None:
    """Bookkeeping that must not hide the original failure (the store's disk may be full too)."""
    try:
        fn()
    except (sqlite3.Error, OSError) as err:
        log.error("could not record %s: %s", what, err)


def run_batch(
    cfg: MonitorConfig,
    inputs: Sequence[InputSpec | InputProblem],
    out_dir: Path,
    pipeline: Pipeline,
    force: bool = False,
    fps: float | None = None,
    progress: ProgressFn | None = None,
    on_input_done: Callable[[InputOutcome], None] | None = None,
) -> list[InputOutcome]:
    """Process inputs in order under the output folder's lock; failures never stop the batch.

    Raises:
        LockHeldError: another process is writing into ``out_dir``.
        FolderError: ``out_dir`` cannot be written.
        KeyboardInterrupt: Ctrl-C or SIGTERM, after recording the run ``interrupted``.
    """
    with FolderLock(out_dir):
        sink = OutputSink(cfg, out_dir, pipeline)
        recover_stale_runs(sink.store)
        sink.begin_run(uuid.uuid4().hex, "batch")
        assert sink.run_id is not None
        own_run(sink.store, sink.run_id)
        outcomes: list[InputOutcome] = []
        status = "interrupted"
        try:
            with _deferred_interrupts() as stop:
                for item in inputs:
                    stop.check()
                    outcome = _process_one(
                        cfg, item, out_dir, pipeline, sink, force, fps, progress, stop.check
                    )
                    outcomes.append(outcome)
                    if on_input_done:
                        on_input_done(outcome)
            status = "failed" if any(o.status == "failed" for o in outcomes) else "done"
        finally:
            failed = [o.name for o in outcomes if o.status == "failed"]
            summary = {"inputs": len(inputs), "failed": failed}
            _safe("the run's end", lambda: sink.finish_run(status, summary))
            _safe("the outputs", sink.close_all)
    return outcomes


def _failed(sink: OutputSink, name: str, shown: str, err: BaseException) -> InputOutcome:
    message = str(err) or type(err).__name__
    if isinstance(err, sqlite3.Error):
        message = f"store: {message}"
    log.error("input %s failed: %s", shown, message)
    _safe(f"{name} as failed", lambda: sink.record_source(name, shown, "failed", error=message))
    return InputOutcome(name, shown, "failed", message)


def _process_one(
    cfg: MonitorConfig, item: InputSpec | InputProblem, out_dir: Path, pipeline: Pipeline,
    sink: OutputSink, force: bool, fps: float | None, progress: ProgressFn | None,
    stop: Callable[[], None] | None = None,
) -> InputOutcome:  # fmt: skip
    if isinstance(item, InputProblem):
        return _failed(sink, item.name, item.shown, SourceError(item.error))
    shown = redact(str(item.path))
    try:
        fp = fingerprint(item.path)
    except OSError as err:
        return _failed(sink, item.name, shown, SourceError(f"cannot read input {shown}: {err}"))
    spec = replace(item, name=output_folder(out_dir, item.name, fp))
    if not force and is_finished(out_dir, spec.name, fp):
        return InputOutcome(spec.name, shown, "skipped")
    try:
        (out_dir / spec.name / "summary.json").unlink(missing_ok=True)
        claim(out_dir, spec.name, fp, shown)
        forget_input(sink.store, spec.name, sink.run_id or "")
        source = FrameSource.open(spec, fps)
        sink.record_source(spec.name, shown, "running", fps=source.fps)
        summary = process_input(
            source, pipeline, sink, cfg.model.batch, progress, cfg.model.max_det, stop
        )
        summary.update(input=shown, fingerprint=fp)
        _write_json_atomic(out_dir / spec.name / "summary.json", summary)
        sink.record_source(spec.name, shown, "done", frames=summary["frames"], fps=source.fps)
    except KeyboardInterrupt:
        _safe(spec.name, lambda: sink.record_source(spec.name, shown, "interrupted"))
        raise
    except INPUT_ERRORS as err:
        return _failed(sink, spec.name, shown, err)
    return InputOutcome(spec.name, shown, "done", summary=summary)
