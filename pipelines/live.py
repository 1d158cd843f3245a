"""Live driver: capture, inference and output loops joined by bounded queues.

Capture threads (one per camera) put frames on a per-camera ``DropOldestQueue`` (size 2 by
default, like Frigate): a slow detector drops old frames, counted, instead of falling behind.
The inference loop batches the newest frames across cameras through the same
``Pipeline.step_batch`` the batch driver uses. Results go to the output loop on a blocking queue,
so alerts are never dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from monitor.pipeline import FrameResult, Pipeline
from monitor.queues import Closed, DropOldestQueue
from monitor.types import Frame

log = logging.getLogger(__name__)
Sink = Callable[[FrameResult], None]


@dataclass
class LiveStats:
    """Counters per camera: frames captured, dropped by the capture queue, processed."""

    captured: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    processed: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class LiveRunner:
    """Runs cameras (any iterables of frames) until they end or ``stop()`` is called.

    Example:
        >>> runner = LiveRunner(pipeline, sink=print)  # doctest: +SKIP
        >>> stats = runner.run({"cam1": source.frames()})  # doctest: +SKIP
    """

    def __init__(
        self, pipeline: Pipeline, sink: Sink, queue_size: int = 2, batch: int = 4,
        realtime: bool = False,
    ) -> None:  # fmt: skip
        self.pipeline, self.sink = pipeline, sink
        self.queue_size, self.batch, self.realtime = queue_size, batch, realtime
        self._stop = threading.Event()
        self.stats = LiveStats()

    def stop(self) -> None:
        """Ask every loop to finish."""
        self._stop.set()

    def _capture(self, cam: str, frames: Iterable[Frame], q: DropOldestQueue[Frame]) -> None:
        start = time.monotonic()
        first_ts: float | None = None
        try:
            for frame in frames:
                if self._stop.is_set():
                    break
                if self.realtime:  # play files at their own rate, as a camera would deliver them
                    first_ts = frame.timestamp if first_ts is None else first_ts
                    delay = (frame.timestamp - first_ts) - (time.monotonic() - start)
                    if delay > 0:
                        time.sleep(delay)
                q.put(frame)
                self.stats.captured[cam] = self.stats.captured.get(cam, 0) + 1
        except Exception as err:  # a dead camera must not take the others down
            log.error("camera %s stopped: %s", cam, err)
            self.stats.errors[cam] = str(err)
        finally:
            q.close()

    def _next_batch(self, queues: dict[str, DropOldestQueue[Frame]]) -> list[Frame]:
        batch: list[Frame] = []
        for cam, q in list(queues.items()):
            try:
                batch.append(q.get(timeout=0.05))
            except TimeoutError:
                continue
            except Closed:
                queues.pop(cam)
            if len(batch) >= self.batch:
                break
        return batch

    def _infer(self, queues: dict[str, DropOldestQueue[Frame]], out: queue.Queue) -> None:
        live = dict(queues)
        try:
            while live and not self._stop.is_set():
                batch = self._next_batch(live)
                if batch:
                    for result in self.pipeline.step_batch(batch):
                        out.put(result)
        finally:
            out.put(None)

    def _output(self, out: queue.Queue) -> None:
        while (result := out.get()) is not None:
            cam = result.frame.camera_id
            self.stats.processed[cam] = self.stats.processed.get(cam, 0) + 1
            self.sink(result)

    def run(self, cameras: dict[str, Iterable[Frame]]) -> LiveStats:
        """Start every loop, wait until all cameras end (or stop), return the counters."""
        queues = {cam: DropOldestQueue[Frame](self.queue_size) for cam in cameras}
        out: queue.Queue = queue.Queue(maxsize=64)
        threads = [
            threading.Thread(
                target=self._capture, args=(c, f, queues[c]), daemon=True, name=f"capture-{c}"
            )
            for c, f in cameras.items()
        ]
        threads.append(
            threading.Thread(target=self._output, args=(out,), daemon=True, name="output")
        )
        for t in threads:
            t.start()
        try:
            self._infer(queues, out)
        finally:
            for t in threads:
                t.join()
            for cam, q in queues.items():
                self.stats.dropped[cam] = q.dropped
        return self.stats
