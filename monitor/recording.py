"""Writers for what a run leaves on disk: annotated video, per-frame JSONL, alert snapshots and clips.

All paths handed back are relative to the media root, which is what the store records.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from monitor.types import Alert, Detections, Frame


class VideoWriterError(RuntimeError):
    """OpenCV could not open a video file for writing."""


def open_video_writer(path: Path, fps: float, size: tuple[int, int], fourcc: str = "mp4v") -> Any:
    """An OpenCV writer for ``(width, height)`` frames; raises with the path if it cannot open."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        raise VideoWriterError(f"cannot write video {path} (codec {fourcc})")
    return writer


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
    """One JSON object per line, flushed per frame so a crash loses at most one line."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh: IO[str] = path.open("w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record."""
        self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


def save_snapshot(root: Path, relative: str, image: np.ndarray, quality: int = 90) -> str:
    """Write a JPEG under the media root and return its relative path."""
    target = root / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(target), image, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"cannot write snapshot {target}")
    return relative


class ClipRecorder:
    """Keeps the last ``seconds`` of annotated frames; an alert gets a clip of before + after."""

    def __init__(self, root: Path, fps: float, seconds: float, fourcc: str = "mp4v") -> None:
        self.root, self.fps, self.fourcc = root, fps, fourcc
        self.span = max(1, int(round(seconds * fps)))
        self._buffer: deque[np.ndarray] = deque(maxlen=self.span)
        self._open: list[tuple[Any, int]] = []  # (writer, frames still to write)

    def start(self, relative: str) -> str:
        """Begin a clip from the buffered frames; returns its path relative to the root."""
        if not self._buffer:
            raise RuntimeError("ClipRecorder.start called before any frame was added")
        h, w = self._buffer[0].shape[:2]
        writer = open_video_writer(self.root / relative, self.fps, (w, h), self.fourcc)
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
        """Finish every open clip (end of input)."""
        for writer, _ in self._open:
            writer.release()
        self._open = []
