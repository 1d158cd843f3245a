"""Capture subprocess: one OpenCV reader per connection attempt, which the parent can always kill.

A hung ``cv2.VideoCapture.read`` cannot be interrupted from a thread (OpenCV's own timeouts do not
cover every case), so the blocking open/read runs in a child process started with
``python -m monitor.capture``. The child sends length-prefixed messages on its stdout; the parent
(``CaptureProcess``) polls them with a deadline and kills the child when the deadline passes.
The URI travels on the child's stdin, never on its command line (visible in ``ps``).

Messages: ``R`` ready (imports done), ``O`` opened (JSON: fps, width, height), ``F`` frame
(wall time, shape, BGR bytes), ``E`` error (JSON: phase, elapsed, message), ``X`` end of file.

The TCP reachability probe used between retries lives here too; ``Scrubber`` (credential removal)
lives in ``monitor.redact`` and is re-exported for existing imports.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from monitor.redact import Scrubber as Scrubber  # re-exported: cameras import it from here

_HEAD = struct.Struct("!cI")  # message kind, payload length
_FRAME = struct.Struct("!dIII")  # wall time, height, width, channels
_PR_SET_PDEATHSIG = 1
_PROBE_EVERY = 0.5  # seconds between reachability probes during a backoff


class Kind:
    """Message kinds; ``EXIT`` (the child is gone) is synthesised by the parent."""

    READY, OPENED, FRAME, ERROR, END, EXIT = "R", "O", "F", "E", "X", "exit"


@dataclass
class Message:
    """One message from a capture child: its kind, JSON ``info``, or a frame's wall time and image."""

    kind: str
    info: dict[str, Any] = field(default_factory=dict)
    wall: float = 0.0
    image: np.ndarray | None = None


# ---------------------------------------------------------------- child side


def _write_all(fd: int, *parts: bytes | memoryview) -> None:
    for part in parts:
        view = memoryview(part).cast("B")
        while view:
            view = view[os.write(fd, view) :]


def _send(fd: int, kind: str, info: dict[str, Any] | None = None) -> None:
    payload = json.dumps(info or {}).encode()
    _write_all(fd, _HEAD.pack(kind.encode(), len(payload)), payload)


def _send_frame(fd: int, image: np.ndarray) -> None:
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w, c = image.shape
    head = _FRAME.pack(time.time(), h, w, c)
    _write_all(fd, _HEAD.pack(Kind.FRAME.encode(), len(head) + image.nbytes), head, image.data)


def _open(spec: dict[str, Any]) -> cv2.VideoCapture:
    """The OpenCV capture for a spec: FFmpeg with timeouts, V4L2, or a plain file."""
    kind, target = spec["kind"], spec["target"]
    if kind == "ffmpeg":
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = spec.get("options", "")
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(spec["open_timeout"] * 1000)]
        params += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(spec["read_timeout"] * 1000)]
        return cv2.VideoCapture(target, cv2.CAP_FFMPEG, params)
    if kind == "v4l2":
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        return cv2.VideoCapture(target, api)
    return cv2.VideoCapture(target)


def _pace(due: float, interval: float) -> float:
    """Sleep until ``due`` (file playback at its own rate); the next due time, resynced if late."""
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    elif now - due > 1.0:
        due = now  # fell far behind (busy machine): do not burst to catch up
    return due + interval


def _capture(spec: dict[str, Any], fd: int) -> int:
    """Open, then stream frames until an error, end of file, or the parent kills us."""
    start = time.monotonic()
    cap = _open(spec)
    if not cap.isOpened():
        missing = spec["kind"] == "file" and not os.path.exists(spec["target"])
        # a file path is no secret (unlike a stream URI, which may carry credentials)
        message = "open failed" + (f": no such file {spec['target']}" if missing else "")
        _send(
            fd,
            Kind.ERROR,
            {"phase": "open", "elapsed": time.monotonic() - start, "message": message},
        )
        return 1
    fps = float(spec.get("fps") or cap.get(cv2.CAP_PROP_FPS) or 0.0)  # frame folders: given
    if spec.get("start_s") and fps > 0:  # file: URI with #t=S (only the first pass of a loop)
        cap.set(cv2.CAP_PROP_POS_FRAMES, round(spec["start_s"] * fps))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    _send(fd, Kind.OPENED, {"fps": fps, "width": size[0], "height": size[1]})
    interval = 1.0 / fps if spec.get("pace") and 0 < fps < 1000 else 0.0
    due, since_open = time.monotonic(), 0
    while True:
        t = time.monotonic()
        ok, image = cap.read()
        if ok and image is not None:
            if interval:
                due = _pace(due, interval)
            _send_frame(fd, image)
            since_open += 1
            continue
        if spec["kind"] == "file" and since_open:
            if not spec.get("loop"):
                _send(fd, Kind.END)
                return 0
            cap.release()
            cap, since_open = _open(spec), 0
            if cap.isOpened():
                continue
        message = "open failed" if spec["kind"] == "file" else "read failed"
        _send(
            fd, Kind.ERROR, {"phase": "read", "elapsed": time.monotonic() - t, "message": message}
        )
        return 1


def _die_with_parent() -> None:
    """Linux: ask the kernel to kill us if the parent dies, so a crash leaks no capture process."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:
        os._exit(0)


def main() -> int:
    """Child entry point: announce readiness, read one JSON spec line from stdin, capture."""
    _die_with_parent()
    fd = os.dup(1)
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the message stream
    try:
        _send(fd, Kind.READY)
        line = sys.stdin.buffer.readline()
        if not line:
            return 0
        return _capture(json.loads(line), fd)
    except BrokenPipeError:
        return 0


# --------------------------------------------------------------- parent side


class CaptureProcess:
    """Parent's handle on one capture child: spawn warm, send a spec, poll messages, kill.

    Stderr lines of the child (FFmpeg and OpenCV messages) go to ``on_stderr``, which is
    expected to scrub credentials before logging them. Not thread-safe: one owner thread.
    """

    def __init__(self, on_stderr: Callable[[str], None]) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.capture"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # terminal signals go to the parent, which kills us
        )
        self._on_stderr = on_stderr
        self.last_stderr = ""  # FFmpeg's last word, often the reason an open failed (unscrubbed)
        self._buf, self._err = bytearray(), bytearray()
        self._sel = selectors.DefaultSelector()
        for stream in (self._proc.stdout, self._proc.stderr):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            self._sel.register(stream.fileno(), selectors.EVENT_READ)
        self._open_fds = 2

    @property
    def pid(self) -> int:
        """Process id of the child."""
        return self._proc.pid

    def send_spec(self, spec: dict[str, Any]) -> None:
        """Tell the child what to open; closes its stdin (it reads exactly one line)."""
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(spec).encode() + b"\n")
            stdin.flush()
        except BrokenPipeError:
            pass  # the child died already; poll() reports EXIT
        finally:
            stdin.close()

    def poll(self, timeout: float) -> list[Message]:
        """Messages that arrived within ``timeout`` seconds (possibly none); ``EXIT`` at the end."""
        out: list[Message] = []
        if not self._open_fds:
            return [Message(Kind.EXIT, {"code": self._proc.wait()})]
        for key, _ in self._sel.select(max(timeout, 0.0)):
            fd = int(key.fd)
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                self._sel.unregister(fd)
                self._open_fds -= 1
                continue
            if self._proc.stderr is not None and fd == self._proc.stderr.fileno():
                self._err += chunk
                self._emit_stderr()
            else:
                self._buf += chunk
                out.extend(self._parse())
        if not self._open_fds:
            self._emit_stderr(final=True)
            out.append(Message(Kind.EXIT, {"code": self._proc.wait()}))
        return out

    def _emit_stderr(self, final: bool = False) -> None:
        *lines, rest = self._err.split(b"\n")
        self._err = bytearray(rest)
        if final and rest:
            lines.append(rest)
        for line in lines:
            if line.strip():
                self.last_stderr = line.decode("utf-8", "replace").strip()
                self._on_stderr(self.last_stderr)

    def _parse(self) -> list[Message]:
        out, pos = [], 0
        while len(self._buf) - pos >= _HEAD.size:
            kind_b, size = _HEAD.unpack_from(self._buf, pos)
            end = pos + _HEAD.size + size
            if len(self._buf) < end:
                break
            start, kind = pos + _HEAD.size, kind_b.decode()
            if kind == Kind.FRAME:
                wall, h, w, c = _FRAME.unpack_from(self._buf, start)
                image = np.empty((h, w, c), np.uint8)
                image.reshape(-1)[:] = np.frombuffer(
                    self._buf, np.uint8, h * w * c, start + _FRAME.size
                )
                out.append(Message(Kind.FRAME, wall=wall, image=image))
            else:
                out.append(Message(kind, json.loads(bytes(self._buf[start:end]) or b"{}")))
            pos = end
        del self._buf[:pos]
        return out

    def kill(self) -> None:
        """Kill the child (it may be stuck in a read), reap it and close every pipe. Idempotent."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._sel.close()
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
        self._open_fds = 0


# ---------------------------------------------------------- URIs and reachability


def port_open(addr: tuple[str, int], timeout: float = 0.3) -> bool:
    """Whether ``addr`` accepts a TCP connection now (closed at once: a cheap liveness probe)."""
    try:
        with socket.create_connection(addr, timeout=timeout):
            return True
    except OSError:
        return False


def wait_retry(delay: float, addr: tuple[str, int] | None, stop: threading.Event) -> None:
    """Back off ``delay`` s, or less: a probe that sees ``addr`` go from refused to open ends it.

    A source that accepts but stalls (port open throughout) gets the full backoff; a camera that
    was unreachable is retried as soon as its port is back, whatever the backoff has grown to.
    """
    was_down, end = False, time.monotonic() + delay
    while not stop.is_set() and (left := end - time.monotonic()) > 0:
        if addr is not None:
            if not port_open(addr):
                was_down = True
            elif was_down:
                return
        stop.wait(min(left, _PROBE_EVERY))


def host_port(uri: str, default_port: int) -> tuple[str, int] | None:
    """(host, port) of a network URI, tolerating passwords with ``/`` or ``@`` in them.

    Example:
        >>> host_port("rtsp://admin:p@ss/1@[fe80::1]:8554/s", 554), host_port("http://cam/x", 80)
        (('fe80::1', 8554), ('cam', 80))
    """
    rest = uri.split("://", 1)[-1]
    hostport = re.split(r"[/?#]", rest.rsplit("@", 1)[-1], maxsplit=1)[0]
    m = re.fullmatch(r"\[(?P<h6>[^\]]+)\](?::(?P<p6>\d+))?|(?P<h>[^:]+)(?::(?P<p>\d+))?", hostport)
    if not m:
        return None
    port = m.group("p6") or m.group("p")
    return (m.group("h6") or m.group("h"), int(port) if port else default_port)


if __name__ == "__main__":
    sys.exit(main())
