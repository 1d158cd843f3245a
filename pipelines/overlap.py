"""Overlap decode, inference and output so both cores work (batch driver).

``pipelined`` runs three stages on three threads joined by bounded queues, as supervision's
``process_video`` does: a decode thread reads frames ahead, a step thread runs
``Pipeline.step_batch`` (every stateful stage stays on that one thread), and the caller's thread
gets the results in order to feed the sink (which owns the SQLite store, so it stays on the
caller's thread). Decoding (OpenCV), the network (onnxruntime, OpenVINO, torch) and encoding (PyAV)
release the GIL, so the three overlap. Nothing is dropped: a full queue blocks its producer. An
exception in a worker is re-raised in the caller, unchanged, and the workers stop when the caller
stops iterating.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

from monitor.pipeline import FrameResult, Pipeline
from monitor.types import Frame

T = TypeVar("T")
_END = object()


class _Failure:
    """An exception carried from a worker thread to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _put(q: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Put unless the consumer has stopped; False when it has."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _pump(items: Iterable[object], q: queue.Queue[object], stop: threading.Event) -> None:
    try:
        for item in items:
            if not _put(q, item, stop):
                return
    except BaseException as err:  # noqa: BLE001 - handed to the consumer, which re-raises it
        _put(q, _Failure(err), stop)
        return
    _put(q, _END, stop)


def _drain(q: queue.Queue[object]) -> Iterator[object]:
    while True:
        item = q.get()
        if item is _END:
            return
        if isinstance(item, _Failure):
            raise item.error
        yield item


def threaded(items: Iterable[T], depth: int = 8, name: str = "prefetch") -> Iterator[T]:
    """``items`` produced on a worker thread, up to ``depth`` ahead of the consumer.

    Example:
        >>> list(threaded(iter(range(5)), depth=2))
        [0, 1, 2, 3, 4]
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    worker = threading.Thread(target=_pump, args=(items, q, stop), name=name, daemon=True)
    worker.start()
    try:
        yield from _drain(q)  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)


def _batches(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    it = iter(frames)
    while chunk := list(islice(it, size)):
        yield chunk


def _stepped(chunks: Iterable[list[Frame]], step: Callable[[list[Frame]], list[FrameResult]]
             ) -> Iterator[list[FrameResult]]:  # fmt: skip
    for chunk in chunks:
        yield step(chunk)


def pipelined(
    frames: Iterable[Frame], pipeline: Pipeline, batch: int, depth: int = 4
) -> Iterator[FrameResult]:
    """Results of every frame, in order: decode and ``step_batch`` run ahead on their own threads.

    Args:
        frames: The source's frames (decoded on the decode thread).
        pipeline: Stepped on the step thread only.
        batch: Frames per ``step_batch`` call.
        depth: Queue size between stages (frames ahead / batches ahead).
    """
    decoded = threaded(frames, depth * batch, "decode")
    results = threaded(_stepped(_batches(decoded, batch), pipeline.step_batch), depth, "step")
    try:
        for chunk in results:
            yield from chunk
    finally:
        results.close()  # type: ignore[attr-defined]
        decoded.close()  # type: ignore[attr-defined]
