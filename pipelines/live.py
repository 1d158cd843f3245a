"""Live driver: capture, inference and output loops joined by bounded queues.

Capture threads (one per camera) put frames on a per-camera ``DropOldestQueue`` (size 2 by
default, like Frigate): a slow detector drops old frames, counted, instead of falling behind.
The inference loop takes frames of every camera and runs them through ONE
``Pipeline.step_batch`` (the body the batch driver uses), so two cameras share a forward pass.
With ``newest=True`` (the service) it takes only the newest frame of each camera and honours each
camera's detect fps; otherwise frames are taken oldest first (no drops with a big enough queue).
Results go to the output loop on a blocking queue, so alerts are never dropped; the output loop
is also where other work on the sink runs (``call_soon``), keeping the store single-threaded.
Cameras can be added and removed while running.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from monitor.pipeline import FrameResult, Pipeline
from monitor.queues import Closed, DropOldestQueue
from monitor.types import Frame

log = logging.getLogger(__name__)
Sink = Callable[[FrameResult], object]
_WAIT = 0.1  # longest idle wait of the loops between checks of stop()


@dataclass
class LiveStats:
    """Counters per camera: frames captured, dropped (queue full or superseded), skipped (not due
    at the camera's detect fps), processed, and the error that ended a camera."""

    captured: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    processed: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class _Feed:
    """One camera's queue and schedule inside the runner."""

    camera_id: str
    queue: DropOldestQueue[Frame]
    interval: float  # seconds between processed frames (0 = every frame)
    next_due: float | None = None
    missed: int = 0  # frames (every-frame cameras) or detect slots (detect fps) not processed
    pending: Frame | None = None  # newest frame, not yet due: may join the next batch
    removed: bool = False
    ended: bool = False
    thread: threading.Thread | None = None

    def due(self, frame: Frame, early: float = 0.0) -> bool:
        """Whether ``frame`` is due at this camera's detect fps (``early``: that fraction of an
        interval before its slot counts as due)."""
        if self.next_due is None:
            return True
        return frame.timestamp >= self.next_due - early * self.interval - 1e-3

    @property
    def dropped(self) -> int:
        """Frames lost to overload: queue overflow and superseded frames of an every-frame
        camera; missed detect slots of a camera with a detect fps."""
        return self.missed + (0 if self.interval else self.queue.dropped)

    def taken(self, frame: Frame) -> None:
        """Book the next slot after processing ``frame`` (re-anchored when off the grid)."""
        if not self.interval:
            return
        prev = self.next_due
        if prev is not None and frame.timestamp >= prev + self.interval:
            self.missed += int((frame.timestamp - prev) // self.interval)
        on_grid = prev is not None and 0 <= frame.timestamp - prev < self.interval
        self.next_due = (prev if on_grid else frame.timestamp) + self.interval  # type: ignore[operator]


class LiveRunner:
    """Runs cameras (any iterables of frames) through one pipeline into one sink.

    Example:
        >>> runner = LiveRunner(pipeline, sink=print)  # doctest: +SKIP
        >>> stats = runner.run({"cam1": source.frames()})  # until every camera ends  # doctest: +SKIP
        >>> runner.start(); runner.add("cam2", other.frames(), detect_fps=5)  # doctest: +SKIP
    """

    def __init__(
        self, pipeline: Pipeline, sink: Sink, queue_size: int = 2, batch: int = 4,
        realtime: bool = False, newest: bool = False, out_size: int = 64,
    ) -> None:  # fmt: skip
        self.pipeline, self.sink = pipeline, sink
        self.queue_size, self.batch = queue_size, batch
        self.realtime, self.newest = realtime, newest
        self.stats = LiveStats()
        self.forwards = 0  # batched forward passes run (step_batch calls)
        self._stop = threading.Event()
        self._ready = threading.Event()  # a frame arrived or a camera ended
        self._lock = threading.Lock()
        self._feeds: dict[str, _Feed] = {}
        self._out: queue.Queue[tuple[_Feed, FrameResult] | None] = queue.Queue(maxsize=out_size)
        self._calls: deque[Callable[[], object]] = deque()
        self._threads: list[threading.Thread] = []
        self._rotate = 0

    # ------------------------------------------------------------------ cameras

    def add(self, camera_id: str, frames: Iterable[Frame], detect_fps: float | None = None) -> None:
        """Start capturing a camera; replaces nothing (``remove`` it first)."""
        feed = _Feed(camera_id, DropOldestQueue[Frame](self.queue_size),
                     1.0 / detect_fps if detect_fps else 0.0)  # fmt: skip
        feed.thread = threading.Thread(
            target=self._capture, args=(feed, frames), daemon=True, name=f"capture-{camera_id}"
        )
        with self._lock:
            if camera_id in self._feeds:
                raise ValueError(f"camera {camera_id!r} is already running")
            self._feeds[camera_id] = feed
        feed.thread.start()

    def remove(self, camera_id: str, timeout: float = 5.0) -> None:
        """Stop taking a camera's frames (stop its source first so its capture thread ends)."""
        with self._lock:
            feed = self._feeds.pop(camera_id, None)
        if feed is None:
            return
        feed.removed = True
        feed.queue.close()
        self._book_drops(feed)
        if feed.thread is not None and feed.thread is not threading.current_thread():
            feed.thread.join(timeout)

    def dropped(self, camera_id: str) -> int:
        """Frames of a camera dropped so far by this runner (queue full or superseded)."""
        with self._lock:
            feed = self._feeds.get(camera_id)
        if feed is None:
            return self.stats.dropped.get(camera_id, 0)
        return feed.dropped

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the output thread (the sink's thread), between results, in order."""
        self._calls.append(fn)

    # ------------------------------------------------------------------ loops

    def _capture(self, feed: _Feed, frames: Iterable[Frame]) -> None:
        cam, start, first_ts = feed.camera_id, time.monotonic(), None
        try:
            for frame in frames:
                if self._stop.is_set() or feed.removed:
                    break
                if self.realtime:  # play files at their own rate, as a camera would deliver them
                    first_ts = frame.timestamp if first_ts is None else first_ts
                    delay = (frame.timestamp - first_ts) - (time.monotonic() - start)
                    if delay > 0:
                        time.sleep(delay)
                feed.queue.put(frame)
                self.stats.captured[cam] = self.stats.captured.get(cam, 0) + 1
                self._ready.set()
        except Exception as err:  # a dead camera must not take the others down
            log.error("camera %s stopped: %s", cam, err)  # camera errors are redacted at source
            self.stats.errors[cam] = str(err)
        finally:
            feed.queue.close()
            self._ready.set()

    def _take(self, feed: _Feed) -> Frame | None:
        """Oldest frame (FIFO mode) or newest frame (``newest``) of one camera, or None."""
        if not self.newest:
            try:
                return feed.queue.get(timeout=0)
            except TimeoutError:
                return None
            except Closed:
                feed.ended = True
                return None
        latest, feed.pending = feed.pending, None
        while True:
            try:
                frame = feed.queue.get(timeout=0)
            except (TimeoutError, Closed) as err:
                feed.ended = isinstance(err, Closed)
                return latest
            if latest is not None:
                self._count_unused(feed)
            latest = frame

    def _count_unused(self, feed: _Feed) -> None:
        """A frame superseded by a newer one: a drop for an every-frame camera, else a skip
        (missed detect slots are counted when the next frame is taken)."""
        if not feed.interval:
            feed.missed += 1
        else:
            self.stats.skipped[feed.camera_id] = self.stats.skipped.get(feed.camera_id, 0) + 1

    def _next_batch(self) -> list[tuple[_Feed, Frame]]:
        """Frames for one forward: every camera's due frame; once one camera is due, others
        within half their interval of due join the batch (cameras fall into step, so one
        forward serves them all instead of one forward each)."""
        with self._lock:
            feeds = list(self._feeds.values())
        self._rotate = (self._rotate + 1) % max(len(feeds), 1)
        order = feeds[self._rotate :] + feeds[: self._rotate]
        offered = [(f, fr) for f in order if (fr := self._take(f)) is not None]
        batch = [(f, fr) for f, fr in offered if f.due(fr)][: self.batch]
        if batch:
            early = [(f, fr) for f, fr in offered if not f.due(fr) and f.due(fr, early=0.5)]
            batch += early[: self.batch - len(batch)]
        taken = {id(f) for f, _ in batch}
        for f, fr in offered:
            if id(f) not in taken:
                f.pending = fr  # not due yet: kept, so it can join the next camera's forward
        for f, fr in batch:
            f.taken(fr)
        return batch

    def _infer(self, until_cameras_end: bool) -> None:
        try:
            while not self._stop.is_set():
                self._ready.clear()
                batch = self._next_batch()
                if batch:
                    self.forwards += 1
                    results = self.pipeline.step_batch([f for _, f in batch])
                    for (feed, _), result in zip(batch, results):
                        self._out.put((feed, result))
                    continue
                with self._lock:
                    running = [f for f in self._feeds.values() if not f.ended]
                if until_cameras_end and not running:
                    break
                self._ready.wait(_WAIT)
        finally:
            self._out.put(None)

    def _run_calls(self) -> None:
        while self._calls:
            fn = self._calls.popleft()
            try:
                fn()
            except Exception:
                log.exception("output task failed")

    def _output(self) -> None:
        while True:
            try:
                item = self._out.get(timeout=_WAIT)
            except queue.Empty:
                self._run_calls()
                continue
            if item is None:
                break
            feed, result = item
            if not feed.removed:
                cam = feed.camera_id
                self.stats.processed[cam] = self.stats.processed.get(cam, 0) + 1
                try:
                    self.sink(result)
                except Exception:  # one bad frame must not end the service
                    log.exception("sink failed on a frame of camera %s", cam)
            self._run_calls()
        self._run_calls()

    def _book_drops(self, feed: _Feed) -> None:
        cam = feed.camera_id
        self.stats.dropped[cam] = feed.dropped

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Service mode: run inference and output in the background until ``stop()``."""
        for target, name, args in (
            (self._output, "output", ()),
            (self._infer, "inference", (False,)),
        ):
            t = threading.Thread(target=target, args=args, daemon=True, name=name)
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        """Ask every loop to finish (stop the camera sources too: a capture thread waiting on an
        offline camera only sees this after its next frame)."""
        self._stop.set()
        self._ready.set()

    def join(self, timeout: float | None = None) -> LiveStats:
        """Wait for the loops (after ``stop()``); the output loop has drained every result."""
        for t in self._threads:
            t.join(timeout)
        with self._lock:
            feeds = list(self._feeds.values())
        for feed in feeds:
            if feed.thread is not None:
                feed.thread.join(timeout)
            self._book_drops(feed)
        return self.stats

    def run(self, cameras: dict[str, Iterable[Frame]]) -> LiveStats:
        """Start every loop, wait until all cameras end (or stop), return the counters."""
        for cam, frames in cameras.items():
            self.add(cam, frames)
        output = threading.Thread(target=self._output, daemon=True, name="output")
        output.start()
        try:
            self._infer(until_cameras_end=True)
        finally:
            output.join()
        return self.join()
