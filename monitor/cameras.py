"""Live cameras (RTSP, HTTP MJPEG/MPEG-TS, USB, a file played as a camera) as ``Frame`` iterators.

Each camera runs one supervisor thread that owns a capture subprocess (``monitor.capture``) and
kills it when a read passes its deadline: a hung OpenCV read cannot be interrupted from a thread,
a process can always be killed. Dead or stalled sources are retried with capped exponential
backoff; a cheap TCP probe ends the wait early when a refused port starts accepting again, so a
camera is back within seconds of its return even after a long outage. A small drop-oldest buffer
lets a slow consumer shed old frames instead of building latency. Every text shown (repr, health,
logs, errors) passes through ``capture.Scrubber``, stricter than ``sources.redact``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from monitor.capture import CaptureProcess, Kind, Message, Scrubber, host_port, wait_retry
from monitor.playback import resolve_file_uri
from monitor.queues import Closed, DropOldestQueue
from monitor.types import Frame

log = logging.getLogger(__name__)

STATES = ("connecting", "online", "offline", "stalled", "stopped")
CONNECTING, ONLINE, OFFLINE, STALLED, STOPPED = STATES
_MARGIN = 0.5  # watchdog slack beyond OpenCV's own timeout (detection stays within timeout + 1 s)
_START_TIMEOUT = 20.0  # a capture child that cannot even import cv2 within this is given up
_TICK = 0.2  # longest sleep of the supervisor between checks of stop()


class CameraError(ValueError):
    """A camera URI that cannot be used (unknown scheme, bad device); the message is redacted."""


@dataclass(frozen=True)
class CameraHealth:
    """A consistent snapshot of a camera's counters, safe to read from any thread.

    ``state`` is connecting/online/offline/stalled/stopped; ``fps`` is the capture rate over the
    last 30 frames (0 when not online); ``reconnects`` counts opens after the first, ``attempts``
    every open tried; times are wall clock; ``last_error`` is redacted.
    """

    camera_id: str
    uri: str
    state: str
    frames_read: int
    fps: float
    reconnects: int
    attempts: int
    dropped: int
    last_error: str | None
    last_frame_time: float | None
    state_since: float


class CameraSource:
    """A live camera as an endless ``frames()`` iterator that survives outages and never hangs.

    Subclasses say what the capture child opens (``_spec``) and where to probe (``_probe_addr``).

    Args:
        uri: Camera URI; credentials in it are never logged or shown (``uri`` is redacted).
        camera_id: ``Frame.camera_id``; defaults to the redacted URI.
        open_timeout: Seconds an open may take before the source counts as stalled.
        read_timeout: Seconds without a frame before the source counts as stalled.
        buffer: Frames kept for a slow consumer (older ones are dropped and counted).
        backoff: (first, cap) seconds between retries, doubling, reset after frames flowed.

    Example:
        >>> cam = open_camera("rtsp://user:pw@10.0.0.5/stream1", camera_id="door")
        >>> cam
        RtspCamera('rtsp://***@10.0.0.5/stream1', camera_id='door')
        >>> from monitor.assets import SAMPLE_VIDEO
        >>> with open_camera(f"file:{SAMPLE_VIDEO}", camera_id="demo") as cam:
        ...     frame = next(cam.frames())
        >>> frame.camera_id, frame.shape
        ('demo', (432, 768))
    """

    schemes: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        uri: str,
        *,
        camera_id: str | None = None,
        open_timeout: float = 10.0,
        read_timeout: float = 5.0,
        buffer: int = 2,
        backoff: tuple[float, float] = (1.0, 30.0),
    ) -> None:
        self._uri = uri
        self._scrubber = Scrubber(uri)
        self.uri = self._scrubber.scrub(uri)
        self.camera_id = self._scrubber.scrub(camera_id) if camera_id else self.uri
        self.open_timeout, self.read_timeout = float(open_timeout), float(read_timeout)
        self.backoff = backoff
        self._queue: DropOldestQueue[Frame] = DropOldestQueue(buffer)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._index = 0
        self._times: deque[float] = deque(maxlen=30)
        self._state, self._since = CONNECTING, time.time()
        self._frames = self._opens = self._attempts = 0
        self._error: str | None = None
        self._last_frame: float | None = None
        self._fps_hint = 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r}, camera_id={self.camera_id!r})"

    def _spec(self) -> dict[str, Any]:
        """What the capture child opens (``kind``, ``target`` and kind-specific keys)."""
        raise NotImplementedError

    def _probe_addr(self) -> tuple[str, int] | None:
        """(host, port) whose TCP reachability ends a backoff wait early; None: no probe."""
        return None

    # ------------------------------------------------------------------ public API

    def start(self) -> None:
        """Start capturing in the background (``frames()`` calls it); idempotent."""
        with self._lock:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(
                    target=self._supervise, name=f"camera-{self.camera_id}", daemon=True
                )
                self._thread.start()

    def frames(self) -> Iterator[Frame]:
        """Frames as they arrive (wall-clock timestamps, index rising across reconnects).

        Waits through outages; ends after ``stop()``, at the end of a non-looping file, or
        when the iterator is closed (which stops the camera).
        """
        self.start()
        try:
            while not self._stopping.is_set():
                try:
                    frame = self._queue.get(timeout=_TICK)
                except TimeoutError:
                    continue
                except Closed:
                    return
                yield frame
        finally:
            self.stop()

    def stop(self, timeout: float = 5.0) -> None:
        """End ``frames()``, release the thread, capture process and pipes; final (no restart)."""
        self._stopping.set()
        self._queue.close()
        with self._lock:
            thread = self._thread
        if thread is None:
            self._set_state(STOPPED)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.error(
                    "camera %s: supervisor did not stop within %.1f s", self.camera_id, timeout
                )

    def health(self) -> CameraHealth:
        """The current counters (thread-safe)."""
        with self._lock:
            times, online = self._times, self._state == ONLINE
            span = times[-1] - times[0] if len(times) > 1 else 0.0
            fps = (len(times) - 1) / span if online and span > 0 else 0.0
            return CameraHealth(
                self.camera_id, self.uri, self._state, self._frames, fps, max(self._opens - 1, 0),
                self._attempts, self._queue.dropped, self._error, self._last_frame, self._since,
            )  # fmt: skip

    def __enter__(self) -> CameraSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ supervisor

    def _set_state(self, state: str, error: str | None = None) -> None:
        with self._lock:
            changed = state != self._state
            if changed:
                self._state, self._since = state, time.time()
            if error is not None:
                self._error = self._scrubber.scrub(error)
        if changed and state in (OFFLINE, STALLED):
            log.warning("camera %s: %s (%s)", self.camera_id, state, self._error)
        elif changed:
            log.log(logging.DEBUG if state == CONNECTING else logging.INFO, "camera %s: %s",
                    self.camera_id, state)  # fmt: skip

    def _spawn(self) -> CaptureProcess | None:
        try:
            scrub = self._scrubber.scrub  # FFmpeg may print the URL: its lines are scrubbed too
            return CaptureProcess(
                lambda line: log.debug("camera %s: %s", self.camera_id, scrub(line))
            )
        except OSError as err:
            self._set_state(OFFLINE, f"cannot start capture process: {err}")
            return None

    def _supervise(self) -> None:
        delay, child, spare = self.backoff[0], None, self._spawn()
        try:
            while not self._stopping.is_set():
                child, spare = spare or self._spawn(), None
                if child is not None:
                    self._set_state(CONNECTING)
                    flowed, ended = self._session(child)
                    child.kill()
                    if ended or self._stopping.is_set():
                        return
                    delay = self.backoff[0] if flowed else delay
                    spare = self._spawn()  # warm the next child (imports) while we wait
                if self._stopping.is_set():
                    return
                log.info("camera %s: retry in %.1f s", self.camera_id, delay)
                wait_retry(delay, self._probe_addr(), self._stopping)
                delay = min(delay * 2, self.backoff[1])
        except Exception as err:  # never die silently: health must say why frames stopped
            log.exception("camera %s: supervisor failed", self.camera_id)
            self._set_state(OFFLINE, f"supervisor failed: {type(err).__name__}: {err}")
        finally:
            for proc in (child, spare):
                if proc is not None:
                    proc.kill()
            self._set_state(STOPPED)
            self._queue.close()

    def _session(self, child: CaptureProcess) -> tuple[bool, bool]:
        """One connection attempt, until failure/stall/stop; returns (frames flowed, file ended)."""
        with self._lock:
            self._attempts += 1
            self._times.clear()
        child.send_spec(self._spec())
        now = time.monotonic()
        deadline = now + _START_TIMEOUT  # then open_timeout from READY on
        flowed = False
        while not self._stopping.is_set():
            for msg in child.poll(min(_TICK, deadline - time.monotonic())):
                now = time.monotonic()
                if msg.kind == Kind.READY:
                    deadline = now + self.open_timeout + _MARGIN
                elif msg.kind == Kind.OPENED:
                    self._fps_hint = float(msg.info.get("fps") or 0.0)
                    with self._lock:
                        self._opens += 1
                    self._set_state(ONLINE)
                    deadline = now + self._read_deadline()
                elif msg.kind == Kind.FRAME:
                    self._deliver(msg)
                    flowed, deadline = True, now + self._read_deadline()
                elif msg.kind == Kind.END:
                    return flowed, True
                elif msg.kind in (Kind.ERROR, Kind.EXIT):
                    self._fail(msg, child.last_stderr)
                    return flowed, False
            if time.monotonic() > deadline:
                waited = self.read_timeout if self._state == ONLINE else self.open_timeout
                self._set_state(STALLED, f"no data for {waited:.1f} s; capture process killed")
                return flowed, False
        return flowed, False

    def _read_deadline(self) -> float:
        gap = 1.0 / self._fps_hint if 0 < self._fps_hint < 1000 else 0.0
        return self.read_timeout + min(gap, 5.0) + _MARGIN

    def _fail(self, msg: Message, stderr: str) -> None:
        """Offline or stalled, from a child's error report (plus FFmpeg's last line) or its exit."""
        detail = f" ({stderr})" if stderr else ""
        if msg.kind == Kind.EXIT:
            self._set_state(OFFLINE, f"capture exited with code {msg.info.get('code')}{detail}")
            return
        phase, elapsed = msg.info.get("phase", "read"), float(msg.info.get("elapsed", 0.0))
        limit = self.open_timeout if phase == "open" else self.read_timeout
        if elapsed >= 0.9 * limit:
            self._set_state(STALLED, f"{phase} timed out after {elapsed:.1f} s{detail}")
        else:
            self._set_state(OFFLINE, f"{msg.info.get('message', phase + ' failed')}{detail}")

    def _deliver(self, msg: Message) -> None:
        assert msg.image is not None
        frame = Frame(self.camera_id, self._index, msg.wall, msg.image)
        self._index += 1
        with self._lock:
            self._frames += 1
            self._last_frame = msg.wall
            self._times.append(msg.wall)
        self._queue.put(frame)


class _FfmpegCamera(CameraSource):
    """A network camera read through OpenCV's FFmpeg backend with bounded open and read."""

    ports: ClassVar[dict[str, int]] = {}

    def _options(self) -> str:
        return "analyzeduration;1000000"  # FFmpeg's 5 s default delays every RTSP open by ~2.5 s

    def _spec(self) -> dict[str, Any]:
        return {"kind": "ffmpeg", "target": self._uri, "options": self._options(),
                "open_timeout": self.open_timeout, "read_timeout": self.read_timeout}  # fmt: skip

    def _probe_addr(self) -> tuple[str, int] | None:
        return host_port(self._uri, self.ports[self._uri.split(":", 1)[0].lower()])


class RtspCamera(_FfmpegCamera):
    """RTSP/RTSPS camera, over TCP by default (``transport="udp"`` for cameras without it)."""

    schemes, ports = ("rtsp", "rtsps"), {"rtsp": 554, "rtsps": 322}

    def __init__(self, uri: str, *, transport: str = "tcp", **common: Any) -> None:
        super().__init__(uri, **common)
        self.transport = transport

    def _options(self) -> str:
        return f"rtsp_transport;{self.transport}|{super()._options()}"


class HttpCamera(_FfmpegCamera):
    """HTTP(S) camera streaming MJPEG (multipart) or MPEG-TS."""

    schemes, ports = ("http", "https"), {"http": 80, "https": 443}


class UsbCamera(CameraSource):
    """A local V4L2 device: ``usb:0`` (index) or ``/dev/video0`` (path)."""

    schemes = ("usb", "/dev/video")

    def __init__(self, uri: str, **common: Any) -> None:
        super().__init__(uri, **common)
        raw = uri[4:] if uri.startswith("usb:") else uri
        if uri.startswith("usb:") and not raw.isdigit():
            raise CameraError(f"usb camera needs a device index like usb:0, got {self.uri!r}")
        self.device: int | str = int(raw) if raw.isdigit() else raw

    def _spec(self) -> dict[str, Any]:
        return {"kind": "v4l2", "target": self.device}


class FileCamera(CameraSource):
    """A video file or frame folder played as a camera at its own rate (``file:PATH[#t=S]``).

    ``fps`` is the rate of a frame folder without ``seqinfo.ini``; see ``monitor.playback``.
    """

    schemes = ("file",)

    def __init__(
        self, uri: str, *, loop: bool = False, fps: float | None = None, **common: Any
    ) -> None:
        super().__init__(uri, **common)
        self.playback = resolve_file_uri(uri, fps)
        self.path, self.loop = self.playback.target, loop

    def _spec(self) -> dict[str, Any]:
        return {"kind": "file", "target": self.path, "loop": self.loop, "pace": True,
                "fps": self.playback.fps, "start_s": self.playback.start_s}  # fmt: skip


CAMERA_TYPES: dict[str, type[CameraSource]] = {
    scheme: cls for cls in (RtspCamera, HttpCamera, UsbCamera, FileCamera) for scheme in cls.schemes
}


def open_camera(uri: str, **opts: Any) -> CameraSource:
    """The camera class registered for the URI's scheme, constructed with ``opts``.

    Example:
        >>> open_camera("ftp://me:secret@host/cam")
        Traceback (most recent call last):
        ...
        monitor.cameras.CameraError: unknown camera scheme 'ftp' in 'ftp://***@host/cam'; known: /dev/video, file, http, https, rtsp, rtsps, usb
    """
    scheme = "/dev/video" if uri.startswith("/dev/video") else uri.split(":", 1)[0].lower()
    cls = CAMERA_TYPES.get(scheme) if ":" in uri or scheme == "/dev/video" else None
    if cls is None:
        known = ", ".join(sorted(CAMERA_TYPES))
        message = f"unknown camera scheme {scheme!r} in {uri!r}; known: {known}"
        raise CameraError(Scrubber(uri).scrub(message))
    return cls(uri, **opts)
