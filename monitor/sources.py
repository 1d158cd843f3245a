"""Frame sources: video files and image-sequence folders as iterators of ``Frame``.

Stages never open files; a source turns a path into frames with timestamps (``index / fps``) and
fails with a ``SourceError`` that names the path and what is wrong with it.
"""

from __future__ import annotations

import configparser
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from monitor.types import Frame

log = logging.getLogger(__name__)

VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm"})
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
DEFAULT_SEQUENCE_FPS = 25.0


_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def redact(uri: str) -> str:
    """The URI with any ``user:password@`` replaced, safe for logs, pages, errors and the store.

    Example:
        >>> redact("rtsp://admin:hunter2@10.0.0.5:554/stream1")
        'rtsp://***@10.0.0.5:554/stream1'
    """
    return _USERINFO.sub(lambda m: m.group("scheme") + "***@", uri)


class SourceError(RuntimeError):
    """A source could not be opened or decoded; the message names the path."""


@dataclass(frozen=True)
class InputSpec:
    """One input found on disk: a video file or a folder of frames, with the name outputs use."""

    name: str
    path: Path
    kind: str  # "video" | "images"


def list_images(folder: Path) -> list[Path]:
    """Image files of a frame folder, in name order (frame order for MOT and UCSD layouts)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def _unique(name: str, taken: set[str]) -> str:
    out, i = name, 2
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    taken.add(out)
    return out


def _discover_dir(folder: Path, prefix: str) -> list[tuple[str, Path, str]]:
    if (folder / "img1").is_dir() and list_images(folder / "img1"):
        return [(folder.name, folder / "img1", "images")]  # MOT layout: name after the sequence
    if list_images(folder):
        own = folder.parent.name if folder.name == "img1" else folder.name
        return [(prefix or own, folder, "images")]
    found: list[tuple[str, Path, str]] = []
    for child in sorted(folder.iterdir()):
        stem = f"{prefix}_{child.stem}" if prefix else child.stem
        if child.is_file() and child.suffix.lower() in VIDEO_EXTS:
            found.append((stem, child, "video"))
        elif child.is_dir():
            found.extend(_discover_dir(child, f"{prefix}_{child.name}" if prefix else child.name))
    return found


def discover_inputs(paths: list[str | Path]) -> list[InputSpec]:
    """Expand files and folders into inputs: videos, MOT ``img1/`` folders, frame folders.

    A missing path raises ``SourceError``; a folder holding nothing playable raises too.
    """
    specs: list[InputSpec] = []
    taken: set[str] = set()
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise SourceError(f"input not found: {p}")
        if p.is_file():
            if p.suffix.lower() not in VIDEO_EXTS:
                raise SourceError(f"not a video file (extension {p.suffix!r}): {p}")
            specs.append(InputSpec(_unique(p.stem, taken), p, "video"))
            continue
        found = _discover_dir(p, "" if (p / "img1").is_dir() or list_images(p) else p.name)
        if not found:
            raise SourceError(f"no videos or image frames found in folder: {p}")
        specs.extend(InputSpec(_unique(n, taken), path, kind) for n, path, kind in found)
    return specs


def _sequence_fps(folder: Path) -> float | None:
    """Frame rate from a MOT ``seqinfo.ini`` next to ``img1/``, if any."""
    ini = folder.parent / "seqinfo.ini" if folder.name == "img1" else folder / "seqinfo.ini"
    if not ini.is_file():
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read(ini)
        return float(parser["Sequence"]["frameRate"])
    except (KeyError, ValueError, configparser.Error):
        log.warning("ignoring unreadable frame rate in %s", ini)
        return None


@dataclass
class FrameSource:
    """Iterates the frames of one input; ``fps`` and ``frame_count`` are known after ``open``.

    Example:
        >>> src = FrameSource.open(InputSpec("pets", Path("img1"), "images"))  # doctest: +SKIP
    """

    spec: InputSpec
    fps: float
    frame_count: int
    size: tuple[int, int]  # (width, height)
    skipped: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, spec: InputSpec, fps: float | None = None) -> FrameSource:
        """Probe the input; raises ``SourceError`` for missing, unreadable or empty inputs."""
        if not spec.path.exists():
            raise SourceError(f"input not found: {spec.path}")
        if spec.kind == "images":
            files = list_images(spec.path)
            if not files:
                raise SourceError(f"no image frames in folder: {spec.path}")
            first = cv2.imread(str(files[0]))
            if first is None:
                raise SourceError(f"cannot decode first frame {files[0]}")
            rate = fps or _sequence_fps(spec.path) or DEFAULT_SEQUENCE_FPS
            return cls(spec, rate, len(files), (first.shape[1], first.shape[0]))
        cap = cv2.VideoCapture(str(spec.path))
        try:
            if not cap.isOpened():
                raise SourceError(f"cannot open video (unreadable or corrupt): {spec.path}")
            ok, img = cap.read()
            if not ok or img is None:
                raise SourceError(f"video has no decodable frames (corrupt or empty): {spec.path}")
            rate = fps or cap.get(cv2.CAP_PROP_FPS) or DEFAULT_SEQUENCE_FPS
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            cap.release()
        return cls(spec, float(rate), max(count, 1), (img.shape[1], img.shape[0]))

    def frames(self) -> Iterator[Frame]:
        """Decoded frames in order; undecodable images are skipped and listed in ``skipped``."""
        if self.spec.kind == "images":
            yield from self._image_frames()
        else:
            yield from self._video_frames()

    def _image_frames(self) -> Iterator[Frame]:
        for i, path in enumerate(list_images(self.spec.path)):
            img = cv2.imread(str(path))
            if img is None:
                self.skipped.append(f"{path}: cannot decode image")
                log.warning("skipping undecodable frame %s", path)
                continue
            yield Frame(self.spec.name, i, i / self.fps, _as_bgr(img))

    def _video_frames(self) -> Iterator[Frame]:
        cap = cv2.VideoCapture(str(self.spec.path))
        if not cap.isOpened():
            raise SourceError(f"cannot open video (unreadable or corrupt): {self.spec.path}")
        i = 0
        try:
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                yield Frame(self.spec.name, i, i / self.fps, _as_bgr(img))
                i += 1
        finally:
            cap.release()
        if i == 0:
            raise SourceError(f"video has no decodable frames (corrupt or empty): {self.spec.path}")
        self.frame_count = i


def _as_bgr(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img


class Source(Protocol):
    """Anything that yields a camera's frames in order: a file, a frame folder, a live camera."""

    def frames(self) -> Iterator[Frame]: ...


LIVE_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "usb:", "/dev/video", "file:")


def open_source(uri: str, camera_id: str, fps: float | None = None, loop: bool = False) -> Source:
    """The source a URI names: live cameras by scheme (``monitor.cameras``), else a path on disk.

    ``file:PATH`` plays a file at its native rate as a camera; a bare path is read as fast as
    the pipeline goes (batch semantics).
    """
    if uri.lower().startswith(LIVE_PREFIXES):
        from monitor.cameras import open_camera

        opts: dict[str, object] = {"camera_id": camera_id}
        if uri.lower().startswith("file:"):
            opts["loop"] = loop
        return open_camera(uri, **opts)
    [spec] = discover_inputs([uri])[:1] or [None]
    if spec is None:
        raise SourceError(f"no playable input at {redact(uri)}")
    return FrameSource.open(InputSpec(camera_id, spec.path, spec.kind), fps)
