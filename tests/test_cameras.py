"""Live cameras against real local stream servers: frames, outages, stalls, credentials, leaks.

Every stream here is real footage served by ffmpeg or GStreamer on 127.0.0.1 (``tests/streams.py``);
nothing is mocked. Timings measured by these tests are printed (``pytest -s``) for the README.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from monitor.cameras import (
    OFFLINE,
    ONLINE,
    STALLED,
    CameraError,
    CameraSource,
    FileCamera,
    HttpCamera,
    RtspCamera,
    Scrubber,
    UsbCamera,
    open_camera,
)
from monitor.sources import redact
from tests.streams import (
    RTSP_PASSWORD,
    RTSP_USER,
    BlackHole,
    StreamServer,
    child_pids,
    open_fds,
)

FAST = {"open_timeout": 5.0, "read_timeout": 2.0}


def wait_for(cond: Callable[[], bool], timeout: float, step: float = 0.05) -> float | None:
    """Seconds until ``cond()`` held, or None if it did not within ``timeout``."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if cond():
            return time.monotonic() - start
        time.sleep(step)
    return None


class Collector:
    """Consumes ``cam.frames()`` on a thread, recording (arrival time, frame)."""

    def __init__(self, cam: CameraSource) -> None:
        self.cam, self.got = cam, []
        self.thread = threading.Thread(target=self._run, name="collector", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for frame in self.cam.frames():
            self.got.append((time.monotonic(), frame))

    def count_after(self, t: float) -> int:
        return sum(1 for arrived, _ in list(self.got) if arrived > t)

    def close(self, limit: float = 2.0) -> float:
        start = time.monotonic()
        self.cam.stop()
        self.thread.join(limit + 1)
        assert not self.thread.is_alive(), "frames() did not end after stop()"
        return time.monotonic() - start


# ---------------------------------------------------------------- registry and redaction


@pytest.mark.parametrize(
    ("uri", "cls"),
    [
        ("rtsp://u:p@10.0.0.5:554/s", RtspCamera),
        ("RTSPS://10.0.0.5/s", RtspCamera),
        ("http://cam/video.mjpg", HttpCamera),
        ("https://cam/stream.ts", HttpCamera),
        ("usb:0", UsbCamera),
        ("/dev/video2", UsbCamera),
        ("file:/tmp/clip.mp4", FileCamera),
        ("file:///tmp/clip.mp4", FileCamera),
    ],
)
def test_open_camera_picks_class_by_scheme(uri: str, cls: type) -> None:
    cam = open_camera(uri)
    assert type(cam) is cls and cam.health().state == "connecting"


@pytest.mark.parametrize("uri", ["ftp://me:hunter22@host/x", "me:hunter22@host", "camera-one"])
def test_unknown_scheme_error_names_redacted_uri(uri: str) -> None:
    with pytest.raises(CameraError, match="unknown camera scheme") as info:
        open_camera(uri)
    assert "hunter22" not in str(info.value)


def test_bad_option_and_bad_usb_index_fail_clearly() -> None:
    with pytest.raises(CameraError, match="usb:0"):
        open_camera("usb:front")
    with pytest.raises(TypeError):
        open_camera("rtsp://h/s", loop=True)  # loop is a file-camera option


@pytest.mark.parametrize(
    ("uri", "secret", "naive_leak"),
    [
        ("rtsp://admin:hunter2@10.0.0.5/s", "hunter2", None),
        ("rtsp://admin:p@ss@10.0.0.5/s", "p@ss", "ss@"),  # '@' in the password
        ("rtsp://admin:pa/ss@10.0.0.5/s", "pa/ss", "pa/ss"),  # '/' in the password
        ("rtsp://admin:pa%2Fss@10.0.0.5/s", "pa/ss", None),  # encoded; ffmpeg may print it decoded
        ("http://10.0.0.5/video.cgi?user=admin&pwd=s3cret", "s3cret", "s3cret"),  # query string
    ],
)
def test_scrubber_removes_secrets_that_naive_redaction_leaks(
    uri: str, secret: str, naive_leak: str | None
) -> None:
    scrub = Scrubber(uri).scrub
    message = f"[rtsp] error opening '{uri}' (password {secret}, user admin)"
    assert secret not in scrub(message) and "admin" not in scrub(message)
    assert "10.0.0.5" in scrub(uri), "the host stays visible"
    assert secret not in repr(open_camera(uri))
    if naive_leak:  # the shared redact() is as strict as the scrubber (it once leaked these)
        assert naive_leak not in redact(uri)


# ---------------------------------------------------------------- file: camera


def test_file_camera_plays_at_native_fps(sample_video: Path) -> None:
    cam = open_camera(f"file:{sample_video}", camera_id="file")
    col = Collector(cam)
    try:
        assert wait_for(lambda: len(col.got) >= 31, 15), cam.health()
        stamps = [f.timestamp for _, f in col.got[:31]]
        fps = 30 / (stamps[-1] - stamps[0])
        print(f"\nfile camera: {fps:.2f} fps measured, health {cam.health().fps:.2f}, file 10.0")
        assert abs(fps - 10.0) / 10.0 < 0.15
        assert abs(cam.health().fps - 10.0) / 10.0 < 0.15
        assert [f.index for _, f in col.got[:31]] == list(range(31))
        assert all(f.camera_id == "file" and f.shape == (432, 768) for _, f in col.got)
    finally:
        col.close()


@pytest.fixture(scope="module")
def short_clip(
    sample_video: Path, ffmpeg_bin: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The first second (10 frames) of the real clip, cut without re-encoding into a temp dir."""
    out = tmp_path_factory.mktemp("clip") / "one_second.mp4"
    cmd = [ffmpeg_bin, "-v", "error", "-i", str(sample_video), "-t", "1", "-c", "copy", str(out)]
    subprocess.run(cmd, check=True, timeout=60)
    return out


def test_file_camera_ends_or_loops(short_clip: Path) -> None:
    once = list(open_camera(f"file:{short_clip}").frames())  # ends by itself
    assert 8 <= len(once) <= 12
    cam = open_camera(f"file://{short_clip}", loop=True)
    col = Collector(cam)
    try:
        assert wait_for(lambda: len(col.got) >= 2 * len(once) + 2, 15), cam.health()
        indices = [f.index for _, f in col.got]
        assert indices == list(range(len(indices))) and cam.health().reconnects == 0
    finally:
        col.close()


def test_a_missing_file_camera_names_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "door.mp4"
    cam = open_camera(f"file:{missing}")
    col = Collector(cam)
    try:
        assert wait_for(lambda: cam.health().last_error is not None, 15), cam.health()
        assert cam.health().last_error == f"open failed: no such file {missing}"
    finally:
        col.close()


# ---------------------------------------------------------------- network cameras


@pytest.mark.parametrize("server_fixture", ["mjpeg_server", "mpegts_server"])
def test_http_camera_delivers_frames(server_fixture: str, request: pytest.FixtureRequest) -> None:
    server: StreamServer = request.getfixturevalue(server_fixture)
    cam = open_camera(server.url, camera_id="http", **FAST)
    col = Collector(cam)
    try:
        assert wait_for(lambda: len(col.got) >= 20, 15), cam.health()
        health = cam.health()
        assert health.state == ONLINE and health.frames_read >= 20 and health.last_error is None
        assert col.got[-1][1].shape == (432, 768)
        assert time.time() - col.got[-1][1].timestamp < 2, "timestamps are wall clock"
    finally:
        col.close()


def _url(kind: str, server: StreamServer) -> str:
    return (
        server.url_with(RTSP_USER, quote(RTSP_PASSWORD, safe="")) if kind == "rtsp" else server.url
    )


def _secret_free(text: str) -> bool:
    return all(s not in text for s in (RTSP_PASSWORD, quote(RTSP_PASSWORD, safe="")))


def test_rtsp_camera_with_credentials_never_shows_them(
    rtsp_server: StreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    good = rtsp_server.url_with(RTSP_USER, quote(RTSP_PASSWORD, safe=""))
    bad = rtsp_server.url_with(RTSP_USER, quote(RTSP_PASSWORD + "x", safe=""))
    cam, wrong = open_camera(good, **FAST), open_camera(bad, **FAST)
    col, col_wrong = Collector(cam), Collector(wrong)
    try:
        assert wait_for(lambda: len(col.got) >= 10, 20), cam.health()
        assert wait_for(lambda: wrong.health().last_error is not None, 20), wrong.health()
        assert cam.health().state == ONLINE and col.got[0][1].shape == (432, 768)
        assert wrong.health().state in (OFFLINE, STALLED) and not col_wrong.got
        shown = [repr(cam), repr(wrong), str(cam.health()), str(wrong.health()), caplog.text]
        shown += [str(f) for _, f in col.got[:3]]
        shown += [Path(f"/proc/{pid}/cmdline").read_bytes().decode() for pid in child_pids()]
        assert all(_secret_free(text) for text in shown)
        assert "401" in caplog.text or "Unauthorized" in caplog.text, "ffmpeg's reason is kept"
    finally:
        col.close()
        col_wrong.close()
    assert _secret_free(caplog.text)


@pytest.mark.parametrize(
    ("kind", "outage"),
    [
        ("mjpeg", 3.0),
        ("rtsp", 3.0),
        pytest.param("rtsp", 25.0, marks=pytest.mark.slow, id="rtsp-long-outage"),  # backoff 16 s
    ],
)
def test_killed_server_goes_offline_and_comes_back(
    kind: str, outage: float, request: pytest.FixtureRequest
) -> None:
    server: StreamServer = request.getfixturevalue(f"{kind}_server")
    cam = open_camera(_url(kind, server), **FAST)
    col = Collector(cam)
    try:
        assert wait_for(lambda: len(col.got) >= 5, 20), cam.health()
        server.kill()
        t_kill = time.monotonic()
        detect = wait_for(lambda: cam.health().state in (OFFLINE, STALLED), 20)
        assert detect is not None, f"not offline 20 s after the kill: {cam.health()}"
        time.sleep(outage)  # a real outage: the backoff grows meanwhile
        server.start()
        t_back = time.monotonic()
        recover = wait_for(lambda: col.count_after(t_back) > 0, 5)
        print(
            f"\n{kind}: offline {detect:.2f} s after kill; after {outage} s down, frames {recover} s after restart"
        )
        assert recover is not None, f"no frames 5 s after the server came back: {cam.health()}"
        health = cam.health()
        assert health.state == ONLINE and health.reconnects == 1
        indices = [f.index for _, f in col.got]
        assert indices == sorted(set(indices)), "index keeps rising across the reconnect"
        assert t_back - t_kill > outage
    finally:
        col.close()


def test_black_hole_is_stalled_within_timeout(black_hole: BlackHole) -> None:
    timeout = 2.0
    cam = open_camera(f"rtsp://127.0.0.1:{black_hole.port}/cam", open_timeout=timeout)
    start = time.monotonic()
    col = Collector(cam)
    try:
        took = wait_for(lambda: cam.health().state == STALLED, timeout + 5)
        print(f"\nblack hole: stalled after {took} s (open timeout {timeout} s)")
        assert took is not None and took <= timeout + 1.0, cam.health()
        assert "timed out" in (cam.health().last_error or "")
    finally:
        stop_took = col.close()
    assert stop_took < 2.0 and time.monotonic() - start < timeout + 5


def test_frozen_server_is_stalled_then_recovers(mjpeg_server: StreamServer) -> None:
    cam = open_camera(mjpeg_server.url, **FAST)
    col = Collector(cam)
    try:
        assert wait_for(lambda: len(col.got) >= 5, 15), cam.health()
        mjpeg_server.pause()  # connection stays open, nothing more is sent
        t_pause = time.monotonic()
        took = wait_for(lambda: cam.health().state == STALLED, 10)
        print(f"\nfrozen server: stalled {took} s after SIGSTOP (read timeout 2.0 s)")
        assert took is not None and took <= FAST["read_timeout"] + 1.0, cam.health()
        mjpeg_server.resume()
        t_back = time.monotonic()
        assert wait_for(lambda: col.count_after(t_back) > 0, 5), cam.health()
        assert t_back - t_pause < 10
    finally:
        col.close()


def test_hung_capture_process_is_killed_and_replaced(mjpeg_server: StreamServer) -> None:
    """A read that hangs past every OpenCV timeout (simulated by freezing the capture child)."""
    before = child_pids()  # other tests' servers may be children of this process too
    cam = open_camera(mjpeg_server.url, **FAST)
    col = Collector(cam)
    try:
        assert wait_for(lambda: len(col.got) >= 5, 15), cam.health()
        assert mjpeg_server.proc is not None
        ours = lambda: child_pids() - before - {mjpeg_server.proc.pid}  # type: ignore[union-attr]  # noqa: E731
        # A capture child replaced at connect time may still be exiting: wait for the one live one.
        assert wait_for(lambda: len(ours()) == 1, 5), (before, child_pids())
        (capture_pid,) = ours()
        os.kill(capture_pid, signal.SIGSTOP)
        took = wait_for(lambda: cam.health().state == STALLED, 10)
        print(f"\nhung capture process: stalled and killed after {took} s (read timeout 2.0 s)")
        assert took is not None and took <= FAST["read_timeout"] + 1.0, cam.health()
        assert "capture process killed" in (cam.health().last_error or "")
        assert wait_for(lambda: capture_pid not in child_pids(), 2), "the hung child was reaped"
        t_stall = time.monotonic()
        assert wait_for(lambda: col.count_after(t_stall) > 0, 5), cam.health()
    finally:
        col.close()


@pytest.mark.parametrize(
    ("kind", "cycles"),
    [
        pytest.param("mjpeg", 3, id="mjpeg-3"),
        pytest.param("mjpeg", 20, id="mjpeg-20", marks=pytest.mark.slow),
        pytest.param("rtsp", 20, id="rtsp-20", marks=pytest.mark.slow),
    ],
)
def test_kill_restart_cycles_leak_nothing(
    kind: str, cycles: int, request: pytest.FixtureRequest
) -> None:
    server: StreamServer = request.getfixturevalue(f"{kind}_server")
    threads, fds, children = threading.active_count(), open_fds(), len(child_pids())
    cam = open_camera(_url(kind, server), **FAST, backoff=(0.2, 1.0))
    col = Collector(cam)
    try:
        for i in range(cycles):
            before = len(col.got)
            assert wait_for(lambda n=before: len(col.got) > n + 2, 10), (i, cam.health())
            server.kill()
            assert wait_for(lambda: cam.health().state != ONLINE, 20), (i, cam.health())
            server.start()
    finally:
        col.close()
    assert wait_for(lambda: threading.active_count() == threads, 2), threading.enumerate()
    assert open_fds() == fds and len(child_pids()) == children
    assert cam.health().reconnects >= cycles - 1


@pytest.mark.parametrize("where", ["streaming", "stalled"])
def test_stop_ends_frames_within_two_seconds(
    where: str, mjpeg_server: StreamServer, black_hole: BlackHole
) -> None:
    url = mjpeg_server.url if where == "streaming" else f"http://127.0.0.1:{black_hole.port}/x"
    cam = open_camera(url, open_timeout=30.0, read_timeout=30.0)
    col = Collector(cam)
    if where == "streaming":
        assert wait_for(lambda: len(col.got) >= 3, 15), cam.health()
    else:
        time.sleep(1.5)  # the capture child is now blocked inside OpenCV's open
    took = col.close()
    assert took < 2.0 and cam.health().state == "stopped"
