"""Pytest fixtures for real local cameras (servers from ``tests/streams.py``), function-scoped.

Imported by ``tests/conftest.py`` so every test module can use them. They skip with the
reason only when ffmpeg or GStreamer's RTSP server is not
installed (``.ci/system-deps.sh`` installs both) or the shared footage is absent.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.streams import (
    RTSP_PASSWORD,
    RTSP_USER,
    VIDEO,
    BlackHole,
    StreamServer,
    rtsp_unavailable,
)


@pytest.fixture(scope="session")
def sample_video() -> Path:
    """The real 10 fps indoor clip; skips only when the shared data folder is absent."""
    if not VIDEO.is_file():
        pytest.skip(f"real footage not found: {VIDEO} (set MONITOR_DATA)")
    return VIDEO


@pytest.fixture(scope="session")
def ffmpeg_bin() -> str:
    """Debian's ffmpeg, needed by the HTTP servers."""
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.skip("ffmpeg not installed (run .ci/system-deps.sh)")
    return path


@pytest.fixture(scope="session")
def rtsp_ready() -> None:
    """Skips when GStreamer's RTSP server cannot run here."""
    reason = rtsp_unavailable()
    if reason:
        pytest.skip(reason)


def _serve(server: StreamServer) -> Iterator[StreamServer]:
    try:
        yield server.start()
    finally:
        server.kill()


@pytest.fixture
def mjpeg_server(sample_video: Path, ffmpeg_bin: str) -> Iterator[StreamServer]:
    """HTTP MJPEG camera on a free port (killable/restartable by the test)."""
    yield from _serve(StreamServer.http("mjpeg", sample_video))


@pytest.fixture
def mpegts_server(sample_video: Path, ffmpeg_bin: str) -> Iterator[StreamServer]:
    """HTTP MPEG-TS camera on a free port."""
    yield from _serve(StreamServer.http("mpegts", sample_video))


@pytest.fixture
def rtsp_server(sample_video: Path, rtsp_ready: None) -> Iterator[StreamServer]:
    """RTSP camera requiring ``RTSP_USER``/``RTSP_PASSWORD`` (basic auth)."""
    yield from _serve(StreamServer.rtsp(sample_video, RTSP_USER, RTSP_PASSWORD))


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    """A port that accepts TCP and sends nothing."""
    hole = BlackHole()
    try:
        yield hole
    finally:
        hole.close()
