"""Real test cameras on 127.0.0.1, serving footage from ``../shared/data`` (``MONITOR_DATA``).

- HTTP MJPEG / MPEG-TS: ``tests/http_stream_server.py`` (Debian's ffmpeg, one encode per client).
- RTSP, optionally with basic auth: ``tests/rtsp_server.py`` (GStreamer's RTSP server, run with
  the system ``/usr/bin/python3``, which has ``gi``).
- A black hole: a listening socket that never accepts, so TCP connects and nothing ever arrives.

Servers run in their own process group and can be killed, paused (SIGSTOP: a real stall with the
connection left open) and restarted on the same port. The pytest fixtures built on these live in
``tests/conftest_streams.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("MONITOR_DATA", HERE.parents[0].parent / "shared" / "data"))
VIDEO = DATA / "intel_sample_videos" / "one-by-one-person-detection.mp4"  # 768x432, 10 fps
SYSTEM_PYTHON = "/usr/bin/python3"
RTSP_USER, RTSP_PASSWORD = "admin", "pa/ss@w0rd!"  # '/' and '@' defeat naive redaction


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def child_pids() -> set[int]:
    """Live child processes of this test process (from /proc), to check nothing leaked."""
    pids: set[int] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            pids.update(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return pids


def open_fds() -> int:
    """Number of open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def rtsp_unavailable() -> str | None:
    """Why GStreamer's RTSP server cannot run here, or None when it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found (GStreamer RTSP server needs the system python3-gi)"
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30)
    if done.returncode:
        return "GStreamer RTSP server not installed (run .ci/system-deps.sh)"
    return None


class StreamServer:
    """A stream server subprocess on a fixed port that tests can kill, pause and restart.

    Example:
        >>> srv = StreamServer.http("mjpeg")  # doctest: +SKIP
        >>> srv.url, srv.kill(), srv.start()  # doctest: +SKIP
    """

    def __init__(self, cmd: list[str], url: str, port: int, env: dict[str, str] | None = None):
        self.cmd, self.url, self.port = cmd, url, port
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def http(cls, fmt: str = "mjpeg", video: Path = VIDEO) -> StreamServer:
        """HTTP camera serving ``video`` as ``mjpeg`` (multipart JPEG) or ``mpegts``."""
        port = free_port()
        script = str(HERE / "http_stream_server.py")
        cmd = [sys.executable, script, "--port", str(port), "--video", str(video), "--format", fmt]
        return cls(cmd, f"http://127.0.0.1:{port}/cam", port)

    @classmethod
    def rtsp(cls, video: Path = VIDEO, user: str | None = None, password: str = "") -> StreamServer:
        """RTSP camera at ``/cam``; with ``user``, basic auth (the URL then carries no password)."""
        port = free_port()
        cmd = [
            SYSTEM_PYTHON,
            str(HERE / "rtsp_server.py"),
            "--port",
            str(port),
            "--video",
            str(video),
        ]
        if user:
            cmd += ["--user", user]
        return cls(cmd, f"rtsp://127.0.0.1:{port}/cam", port, {"RTSP_PASSWORD": password})

    def start(self, timeout: float = 15.0) -> StreamServer:
        """Start the server and wait until its port accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"stream server did not start: {self.cmd[:2]} port {self.port}")
            time.sleep(0.05)
        return self

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the server and its children (the per-client ffmpegs): a camera losing power."""
        if self.proc is not None:
            self._signal(signal.SIGCONT)
            self._signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open but nothing is sent (a frozen camera)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        self._signal(signal.SIGCONT)

    def url_with(self, user: str, password: str) -> str:
        """The URL with ``user:password@`` (percent-encode special characters yourself)."""
        return self.url.replace("://", f"://{user}:{password}@", 1)


class BlackHole:
    """A port that completes TCP handshakes (kernel backlog) but never accepts or sends."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])

    def close(self) -> None:
        """Close the listening socket (pending connections are reset)."""
        self._sock.close()
