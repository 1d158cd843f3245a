"""Alert clips: a few seconds of annotated video before and after each alert.

Two recorders with one interface (``add`` each annotated frame, ``start`` a clip, ``close`` at the
end of the input). ``ClipRecorder`` keeps the last frames and encodes every clip itself: for live
cameras, which encode nothing else. ``PacketClips`` copies a clip out of the H.264 stream the
camera's annotated video is already encoding (batch inputs): no frame is encoded twice, which on
PETS took a third again of the video's own encoding time (7 alerts x 42 frames for 795).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from monitor.recording import (
    H264_PRESET,
    EncodedPacket,
    VideoWriter,
    VideoWriterError,
    open_video_writer,
    partial_path,
)


def _finish_each(finishers: list[Callable[[], None]]) -> None:
    """Call each one; a failing one (disk full) does not stop the others; the first error is
    raised once all have run."""
    errors: list[OSError] = []
    for finish in finishers:
        try:
            finish()
        except OSError as err:
            errors.append(err)
    if errors:
        raise errors[0]


class ClipRecorder:
    """Keeps the last ``seconds`` of annotated frames; an alert gets a clip of before + after."""

    def __init__(
        self,
        root: Path,
        fps: float,
        seconds: float,
        fourcc: str = "avc1",
        preset: str = H264_PRESET,
    ) -> None:
        self.root, self.fps, self.fourcc, self.preset = root, fps, fourcc, preset
        self.span = max(1, int(round(seconds * fps)))
        self._buffer: deque[np.ndarray] = deque(maxlen=self.span)
        self._open: list[tuple[VideoWriter, int]] = []  # (writer, frames still to write)

    def start(self, relative: str) -> str:
        """Begin a clip from the buffered frames; returns its path relative to the root."""
        if not self._buffer:
            raise RuntimeError("ClipRecorder.start called before any frame was added")
        h, w = self._buffer[0].shape[:2]
        writer = open_video_writer(self.root / relative, self.fps, (w, h), self.fourcc, self.preset)
        for img in self._buffer:
            writer.write(img)
        self._open.append((writer, self.span))
        return relative

    def add(self, image: np.ndarray) -> None:
        """Feed the next annotated frame to the buffer and every open clip."""
        self._buffer.append(image)
        still = []
        for writer, left in self._open:
            writer.write(image)
            if left > 1:
                still.append((writer, left - 1))
            else:
                writer.release()
        self._open = still

    def close(self) -> None:
        """Finish every open clip (end of input); a failing one does not stop the others."""
        clips, self._open = self._open, []
        _finish_each([writer.release for writer, _ in clips])


class _Remux:
    """One clip being written from copied packets (no decoding, no encoding)."""

    def __init__(self, path: Path, template: Any, first: EncodedPacket) -> None:
        import av

        self.path, self._tmp = path, partial_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._box = av.open(str(self._tmp), "w", format="mp4",
                                options={"movflags": "+faststart"})  # fmt: skip
            self._stream = self._box.add_stream_from_template(template)
        except (av.FFmpegError, OSError) as err:
            self._tmp.unlink(missing_ok=True)
            raise VideoWriterError(f"cannot write clip {path}: {err}") from err
        self._t0, self._d0 = first.pts, first.dts

    def write(self, p: EncodedPacket) -> None:
        import av

        packet = av.Packet(p.data)
        packet.pts, packet.dts = p.pts - self._t0, p.dts - self._d0
        packet.time_base, packet.is_keyframe = p.time_base, p.keyframe
        packet.stream = self._stream
        try:
            self._box.mux(packet)
        except av.FFmpegError as err:
            self.abort()
            raise VideoWriterError(f"cannot write clip {self.path}: {err}") from None

    def release(self) -> None:
        import av

        try:
            self._box.close()
            self._tmp.replace(self.path)
        except (av.FFmpegError, OSError) as err:
            self._tmp.unlink(missing_ok=True)
            raise VideoWriterError(f"cannot finish clip {self.path}: {err}") from None

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the partial file is deleted either way
            self._box.close()
        self._tmp.unlink(missing_ok=True)


@dataclass
class _Pending:
    """A clip of frames ``first`` to ``last``; its file opens once frame ``first`` is encoded."""

    relative: str
    first: int
    last: int
    clip: _Remux | None = None


class PacketClips:
    """Alert clips cut from the packets of an H.264 annotated video (``tap`` of its writer).

    That video is written without B-frames (decode order is display order, a packet's pts is its
    frame's index) and with a keyframe a second. A clip covers the frames ``span`` before to
    ``span`` after the alert's frame, from the last keyframe at or before its first frame: up to a
    second more. The encoder may hold frames back, so a clip's file opens once its first frame
    has come out, and it ends by frame index.
    """

    def __init__(self, root: Path, fps: float, seconds: float, video: VideoWriter) -> None:
        if not hasattr(video, "tap"):
            raise TypeError("PacketClips needs an H.264 annotated-video writer")
        self.root, self._video = root, video
        self.span = max(1, int(round(seconds * fps)))
        video.tap = self._packet  # type: ignore[attr-defined]
        # back to a keyframe before a clip's first frame, plus frames the encoder holds back
        self._buffer: deque[EncodedPacket] = deque(maxlen=self.span + int(round(fps)) + 64)
        self._open: list[_Pending] = []

    def add(self, image: np.ndarray) -> None:
        """Nothing to do: frames arrive encoded, through the annotated video's tap."""

    def start(self, relative: str) -> str:
        """Begin a clip of the frame about to be encoded; returns its path relative to the root."""
        alert = int(self._video.frames_written)  # type: ignore[attr-defined]
        entry = _Pending(relative, alert - self.span + 1, alert + self.span)
        if self._buffer and self._buffer[-1].pts >= entry.first:
            self._open_clip(entry)
        self._open.append(entry)
        return relative

    def _open_clip(self, entry: _Pending) -> None:
        """Open ``entry``'s file at the last keyframe at or before its first frame (buffered)."""
        keys = [i for i, p in enumerate(self._buffer) if p.keyframe]
        if not keys:
            return
        begin = max((i for i in keys if self._buffer[i].pts <= entry.first), default=keys[0])
        packets = list(self._buffer)[begin:]
        entry.clip = _Remux(self.root / entry.relative, self._video.stream, packets[0])  # type: ignore[attr-defined]
        for p in packets:
            entry.clip.write(p)

    def _packet(self, packet: EncodedPacket) -> None:
        self._buffer.append(packet)
        still = []
        for entry in self._open:
            if entry.clip is None:
                if packet.pts >= entry.first:
                    self._open_clip(entry)  # the buffer ends with this packet
            else:
                entry.clip.write(packet)
            if entry.clip is not None and packet.pts >= entry.last:
                entry.clip.release()
                continue
            still.append(entry)
        self._open = still

    def close(self) -> None:
        """Finish every open clip (end of input); a failing one does not stop the others."""
        entries, self._open = self._open, []
        _finish_each([partial(self._finish, entry) for entry in entries])

    def _finish(self, entry: _Pending) -> None:
        if entry.clip is None:  # the video stopped before this clip's first frame
            self._open_clip(entry)
        if entry.clip is not None:
            entry.clip.release()


def clip_recorder(
    root: Path, fps: float, seconds: float, fourcc: str, preset: str, video: VideoWriter | None
) -> ClipRecorder | PacketClips:
    """Clips from ``video``'s packets when it is an H.264 writer, else a recorder of their own."""
    if video is not None and hasattr(video, "tap"):
        return PacketClips(root, fps, seconds, video)
    return ClipRecorder(root, fps, seconds, fourcc, preset)
