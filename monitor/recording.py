"""Writers for what a run leaves on disk: annotated video, per-frame JSONL, alert snapshots.

Videos are H.264 in mp4 by default (PyAV/libx264, moov first) so browsers play them; OpenCV writes
any other FourCC. A video only appears under its final name once complete. All paths handed back
are relative to the media root, which is what the store records. Alert clips: ``monitor.clips``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from monitor.types import Alert, Detections, Frame


class VideoWriterError(OSError, RuntimeError):
    """A video file could not be opened or written (unknown codec, unwritable or full disk)."""


H264_CODECS = frozenset({"avc1", "avc3", "h264", "x264"})
# 768x576 PETS frames, 2 cores: mp4v 2.6 ms/frame; x264 ultrafast 3.9 ms (37 KiB/frame), veryfast
# 6.8 ms wall / 9.4 ms CPU (11 KiB/frame): a third of the size for a few ms beside a 30-200 ms detector.
H264_PRESET = "veryfast"
H264_CRF = 23  # libx264's default quality: boxes and labels stay sharp
_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


@dataclass(frozen=True)
class EncodedPacket:
    """One frame as the H.264 encoder put it out: what an alert clip copies without re-encoding."""

    data: bytes
    pts: int
    dts: int
    time_base: Fraction
    keyframe: bool


class VideoWriter(Protocol):
    """What every writer returned by ``open_video_writer`` offers (OpenCV's writer's verbs)."""

    def write(self, image: np.ndarray) -> None: ...

    def release(self) -> None: ...

    def abort(self) -> None: ...

    def isOpened(self) -> bool: ...  # noqa: N802 - OpenCV's name, kept for drop-in use

    def __enter__(self) -> VideoWriter: ...

    def __exit__(self, *exc: object) -> None: ...


def partial_path(path: Path) -> Path:
    """The hidden name a video is written under until it is complete (same folder, same suffix)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def is_h264(fourcc: str) -> bool:
    """True for the codec names that mean H.264 (``avc1``, ``h264``...), any case."""
    return fourcc.strip().lower() in H264_CODECS


def _even(n: int) -> int:
    return n + (n % 2)


class _AtomicWriter:
    """Renames the partial file to its final name on ``release``; a killed run leaves no mp4."""

    def __init__(self, path: Path, size: tuple[int, int]) -> None:
        self.path, self.size = path, size
        self._tmp = partial_path(path)
        self._open = False

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        """Whether frames can still be written."""
        return self._open

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """BGR uint8 at the writer's size (OpenCV's writer silently drops anything else)."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if (image.shape[1], image.shape[0]) != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        return image

    def _finish(self) -> None:
        os.replace(self._tmp, self.path)

    def _close(self) -> None:
        """Close the underlying file without finishing it."""
        raise NotImplementedError

    def abort(self) -> None:
        """Give up: close and delete the partial file; the final name never appears."""
        if self._open:
            self._open = False
            with contextlib.suppress(Exception):  # the file is discarded either way
                self._close()
        self._tmp.unlink(missing_ok=True)

    def write(self, image: np.ndarray) -> None:
        """Append one BGR frame."""
        raise NotImplementedError

    def release(self) -> None:
        """Finish the file under its final name."""
        raise NotImplementedError

    def __enter__(self) -> _AtomicWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _OpenCvWriter(_AtomicWriter):
    """OpenCV's ``VideoWriter`` for explicit non-H.264 FourCCs (mp4v, VP80, MJPG...)."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], fourcc: str) -> None:
        super().__init__(path, size)
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter.fourcc(*fourcc), fps, size)
        if not self._writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise VideoWriterError(f"cannot write video {path} (codec {fourcc})")
        self._open = True

    def write(self, image: np.ndarray) -> None:
        """Append one BGR frame."""
        self._writer.write(self._fit(image))

    def _close(self) -> None:
        self._writer.release()

    def release(self) -> None:
        """Close the file and move it to its final name; later calls do nothing."""
        if self._open:
            self._open = False
            self._writer.release()
            self._finish()


class _H264Writer(_AtomicWriter):
    """H.264 (libx264, yuv420p) in mp4 through PyAV, moov atom first so browsers stream it.

    Odd frame sizes are padded by one edge-replicated pixel: 4:2:0 needs even sizes.
    """

    def __init__(
        self, path: Path, fps: float, size: tuple[int, int], preset: str = H264_PRESET,
        keyint: int | None = None,
    ) -> None:  # fmt: skip
        import av

        super().__init__(path, size)
        self.tap: Callable[[EncodedPacket], None] | None = None  # sees every packet (clips)
        fmt = _CONTAINERS.get(path.suffix.lower(), "mp4")
        self._rate = Fraction(fps).limit_denominator(1001)
        self._index = 0
        try:
            self._box = av.open(str(self._tmp), "w", format=fmt, options={"movflags": "+faststart"})
            stream = self._box.add_stream("libx264", rate=self._rate)
            stream.width, stream.height = _even(size[0]), _even(size[1])
            stream.pix_fmt = "yuv420p"
            # One encoder thread: the detector and the decoder already keep every core busy, and
            # x264's own threads cost ~15% more CPU per frame for no wall-clock gain here.
            options: dict[str, object] = {"preset": preset, "crf": str(H264_CRF), "threads": "1"}
            if keyint:  # a keyframe every keyint frames and none of x264's B-frames
                options |= {"g": str(keyint), "bf": "0"}
            stream.options = options
            self._box.start_encoding()  # header now: a bad codec or folder fails at open
        except (av.FFmpegError, OSError, ValueError) as err:
            self._tmp.unlink(missing_ok=True)
            raise VideoWriterError(f"cannot write video {path} (codec h264): {err}") from err
        self._stream = stream
        self._open = True

    def write(self, image: np.ndarray) -> None:
        """Encode one BGR frame; its time is ``index / fps``."""
        import av

        if not self._open:
            return
        image = self._fit(image)
        w, h = self.size
        if (w % 2) or (h % 2):
            image = cv2.copyMakeBorder(image, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        # OpenCV's BGR -> I420 (BT.601) is ~0.7 ms/frame cheaper than libswscale's inside encode.
        yuv: Any = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts, frame.time_base = self._index, 1 / self._rate
        self._index += 1
        try:
            self._mux(self._stream.encode(frame))
        except av.FFmpegError as err:  # e.g. no space left on device
            self.abort()
            reason = getattr(err, "strerror", None) or err
            raise VideoWriterError(f"cannot write video {self.path}: {reason}") from None

    def _mux(self, packets: list[Any]) -> None:
        if self.tap is not None:
            for p in packets:  # copied first: muxing hands the packet's data to the file
                self.tap(EncodedPacket(bytes(p), p.pts, p.dts, p.time_base, p.is_keyframe))
        self._box.mux(packets)

    @property
    def frames_written(self) -> int:
        """Frames handed to the encoder so far (the next frame's index)."""
        return self._index

    @property
    def stream(self) -> Any:
        """The PyAV output stream (codec parameters for clips copied from it)."""
        return self._stream

    def _close(self) -> None:
        self._box.close()

    def release(self) -> None:
        """Flush the encoder, write the index, move the file to its final name; idempotent.

        A failure (disk full) deletes the partial file: no half-written video is left.
        """
        import av

        if not self._open:
            return
        self._open = False
        try:
            try:
                self._mux(self._stream.encode(None))
            finally:
                self._box.close()
            self._finish()
        except (av.FFmpegError, OSError) as err:
            self._tmp.unlink(missing_ok=True)
            reason = getattr(err, "strerror", None) or err
            raise VideoWriterError(f"cannot finish video {self.path}: {reason}") from None


def open_video_writer(
    path: Path, fps: float, size: tuple[int, int], fourcc: str = "avc1", preset: str = H264_PRESET,
    keyint: int | None = None,
) -> VideoWriter:  # fmt: skip
    """A writer of ``(width, height)`` BGR frames: H.264 via PyAV for avc1/h264, else OpenCV.

    The file appears under ``path`` only once ``release`` has finished it; until then it is
    written to ``partial_path(path)``. Raises ``VideoWriterError`` naming the path if the codec
    or the file cannot be opened. ``keyint``: frames between H.264 keyframes at most (x264's
    default is 250), and no B-frames: alert clips are cut from such a stream at a keyframe.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "clip.mp4"
        >>> writer = open_video_writer(path, 10.0, (64, 48))
        >>> writer.write(np.zeros((48, 64, 3), np.uint8))
        >>> path.exists(), partial_path(path).exists()
        (False, True)
        >>> writer.release()
        >>> path.exists(), partial_path(path).exists()
        (True, False)
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_h264(fourcc):
        return _H264Writer(path, fps, size, preset, keyint)
    return _OpenCvWriter(path, fps, size, fourcc)


def frame_record(frame: Frame, dets: Detections, alerts: list[Alert]) -> dict[str, Any]:
    """The JSON object written per frame: index, time, boxes (class, conf, track id), alert ids."""
    ids = dets.tracker_id if dets.tracker_id is not None else np.full(len(dets), -1)
    boxes = [
        {
            "xyxy": [round(float(v), 1) for v in dets.xyxy[i]],
            "class": dets.names[i],
            "class_id": int(dets.class_id[i]),
            "conf": round(float(dets.confidence[i]), 4),
            "track_id": int(ids[i]),
        }
        for i in range(len(dets))
    ]
    return {
        "index": frame.index,
        "time": round(frame.timestamp, 4),
        "boxes": boxes,
        "alerts": [a.id for a in alerts],
    }


class JsonlWriter:
    """One JSON object per line under a hidden partial name, renamed on ``close``.

    Each line goes out in one ``os.write``; a short or failed write (disk full) is cut back to
    the last whole line and raised, so the file never ends in half a line.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._tmp = partial_path(path)
        self._fd: int | None = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._size = 0

    def write(self, record: dict[str, Any]) -> None:
        """Append one record as a whole line, or raise ``OSError`` leaving the file unchanged."""
        if self._fd is None:
            raise OSError(f"{self.path} is closed")
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(28, f"short write ({written} of {len(data)} bytes)")
        except OSError as err:
            os.ftruncate(self._fd, self._size)
            os.lseek(self._fd, self._size, os.SEEK_SET)
            raise OSError(err.errno, f"cannot write {self.path}: {err.strerror or err}") from None
        self._size += len(data)

    def close(self) -> None:
        """Finish the file under its final name; idempotent."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        """Give up: delete the partial file; the final name never appears."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
        self._tmp.unlink(missing_ok=True)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``target`` and rename: all of it or nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def save_snapshot(root: Path, relative: str, image: np.ndarray, quality: int = 90) -> str:
    """Write a JPEG under the media root (atomically) and return its relative path."""
    target = root / relative
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise OSError(f"cannot encode snapshot {target}")
    try:
        write_bytes_atomic(target, buf.tobytes())
    except OSError as err:
        raise OSError(err.errno, f"cannot write snapshot {target}: {err.strerror or err}") from None
    return relative
