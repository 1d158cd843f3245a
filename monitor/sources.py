"""Frame sources: video files and image-sequence folders as iterators of ``Frame``.

Stages never open files; a source turns a path into frames with timestamps (``index / fps``) and
fails with a ``SourceError`` that names the path and what is wrong with it.
"""

from __future__ import annotations

import configparser
import hashlib
import logging
import os
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from monitor.redact import redact as redact  # re-exported: callers import it from here
from monitor.types import Frame

log = logging.getLogger(__name__)

VIDEO_EXTS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm"})
IMAGE_EXTS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
DEFAULT_SEQUENCE_FPS = 25.0
RATE_PROBE_FRAMES = 12  # frames whose timestamps check the container's declared rate
RATE_TOLERANCE = 0.05  # relative disagreement that makes the timestamps win
TRUNCATED_TOLERANCE = 0.02  # decoded frames may fall this short of the declared count
FINGERPRINT_CHUNK = 1 << 20
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:(//|[^/\\])")


class SourceError(RuntimeError):
    """A source could not be opened or decoded; the message names the path."""


@dataclass(frozen=True)
class InputSpec:
    """One input found on disk: a video file or a folder of frames, with the name outputs use."""

    name: str
    path: Path
    kind: str  # "video" | "images"


def list_images(folder: Path) -> list[Path]:
    """Image files of a frame folder, in name order (frame order for MOT and UCSD layouts).

    ``scandir`` knows regular files from the directory listing: no stat per frame, which on a
    network or overlay file system costs ~0.1 ms each, for every one of thousands of frames.
    """
    with os.scandir(folder) as entries:
        names = [e.name for e in entries
                 if os.path.splitext(e.name)[1].lower() in IMAGE_EXTS and e.is_file()]  # fmt: skip
    return [folder / n for n in sorted(names)]


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


@dataclass(frozen=True)
class InputProblem:
    """An input argument that names nothing playable; ``shown`` is redacted, safe to print."""

    name: str
    shown: str
    error: str


def is_uri(raw: str) -> bool:
    """Whether an argument is a URI (``rtsp://``, ``usb:0``) rather than a path; never builds a Path."""
    return "://" in raw or (bool(_URI.match(raw)) and not Path(raw).exists())


def _problem(raw: str, error: str, taken: set[str]) -> InputProblem:
    shown = redact(raw)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", shown).strip("_.")[-60:] or "input"
    return InputProblem(_unique(stem, taken), shown, error.format(shown))


def _discover_one(raw: str, taken: set[str]) -> list[InputSpec | InputProblem]:
    if is_uri(raw):
        return [_problem(raw, "a camera URI is not a batch input (use `monitor live`): {}", taken)]
    p = Path(raw)
    if not p.exists():
        return [_problem(raw, "input not found: {}", taken)]
    if p.is_file():
        if p.suffix.lower() not in VIDEO_EXTS:
            return [_problem(raw, f"not a video file (extension {p.suffix!r}): {{}}", taken)]
        return [InputSpec(_unique(p.stem, taken), p, "video")]
    found = _discover_dir(p, "" if (p / "img1").is_dir() or list_images(p) else p.name)
    if not found:
        return [_problem(raw, "no videos or image frames found in folder: {}", taken)]
    return [InputSpec(_unique(n, taken), path, kind) for n, path, kind in found]


def discover_each(paths: list[str]) -> list[InputSpec | InputProblem]:
    """Expand every argument; one that names nothing playable becomes an ``InputProblem``.

    Batch mode reports problems per input and carries on with the others.
    """
    taken: set[str] = set()
    return [item for raw in paths for item in _discover_one(str(raw), taken)]


def discover_inputs(paths: list[str | Path]) -> list[InputSpec]:
    """Expand files and folders into inputs: videos, MOT ``img1/`` folders, frame folders.

    A missing path, a URI or a folder holding nothing playable raises ``SourceError``.
    """
    items = discover_each([str(p) for p in paths])
    for item in items:
        if isinstance(item, InputProblem):
            raise SourceError(item.error)
    return [i for i in items if isinstance(i, InputSpec)]


def fingerprint(path: Path) -> str:
    """Content key of an input: size, mtime and a hash of the first and last MiB of each file.

    A frame folder hashes its file names and sizes, plus the ends of its first and last frame.
    """
    h = hashlib.sha256()
    files = list_images(path) if path.is_dir() else [path]
    for f in files:
        st = f.stat()
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    for f in dict.fromkeys([files[0], files[-1]] if files else []):
        with f.open("rb") as fh:
            h.update(fh.read(FINGERPRINT_CHUNK))
            fh.seek(max(0, f.stat().st_size - FINGERPRINT_CHUNK))
            h.update(fh.read(FINGERPRINT_CHUNK))
    return h.hexdigest()[:16]


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


def _probe_rate(cap: cv2.VideoCapture) -> float | None:
    """Frame rate from the first frames' timestamps (``CAP_PROP_POS_MSEC``); None if unusable."""
    stamps = []
    for _ in range(RATE_PROBE_FRAMES):
        if not cap.read()[0]:
            break
        stamps.append(cap.get(cv2.CAP_PROP_POS_MSEC))
    steps = [b - a for a, b in zip(stamps, stamps[1:]) if b > a]
    if len(steps) < 2:
        return None
    return 1000.0 / statistics.median(steps)


@dataclass
class FrameSource:
    """Iterates the frames of one input; ``fps`` and ``frame_count`` are known after ``open``.

    ``warnings`` collects what a user should hear once: a declared frame rate the timestamps
    contradict, fewer decodable frames than the container declares (a truncated file).

    Example:
        >>> from monitor.assets import SAMPLE_VIDEO
        >>> src = FrameSource.open(InputSpec("sample", SAMPLE_VIDEO, "video"))
        >>> src.fps, src.size, src.frame_count
        (10.0, (768, 432), 240)
    """

    spec: InputSpec
    fps: float
    frame_count: int
    size: tuple[int, int]  # (width, height)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    declared_frames: int = 0

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
        return cls._open_video(spec, fps)

    @classmethod
    def _open_video(cls, spec: InputSpec, fps: float | None) -> FrameSource:
        cap = cv2.VideoCapture(str(spec.path))
        try:
            if not cap.isOpened():
                raise SourceError(f"cannot open video (unreadable or corrupt): {spec.path}")
            ok, img = cap.read()
            if not ok or img is None:
                raise SourceError(f"video has no decodable frames (corrupt or empty): {spec.path}")
            declared = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            measured = _probe_rate(cap)
        finally:
            cap.release()
        size = (img.shape[1], img.shape[0])
        src = cls(spec, fps or declared or DEFAULT_SEQUENCE_FPS, max(count, 1), size)
        src.declared_frames = max(count, 0)
        if fps is None and measured and abs(measured - src.fps) > RATE_TOLERANCE * measured:
            src.warn(
                f"{spec.path.name}: the container declares {declared:g} fps but frame timestamps "
                f"say {measured:.3g} fps; using the timestamps"
            )
            if declared > 0:
                src.declared_frames = round(count * measured / declared)
            src.fps = round(measured, 3)
        return src

    def warn(self, message: str) -> None:
        """Record a warning for the summary and log it once."""
        self.warnings.append(message)
        log.warning("%s", message)

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
        """Frames timed by their own timestamps when the container has them, else ``index / fps``."""
        cap = cv2.VideoCapture(str(self.spec.path))
        if not cap.isOpened():
            raise SourceError(f"cannot open video (unreadable or corrupt): {self.spec.path}")
        i, start, last = 0, None, -1.0
        try:
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                pos = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                start = pos if start is None else start
                t = pos - start if pos >= 0 else i / self.fps
                last = t if t > last else last + 1.0 / self.fps  # strictly increasing
                yield Frame(self.spec.name, i, last, _as_bgr(img))
                i += 1
        finally:
            cap.release()
        if i == 0:
            raise SourceError(f"video has no decodable frames (corrupt or empty): {self.spec.path}")
        self.frame_count = i
        short = self.declared_frames - i
        if short > max(1, TRUNCATED_TOLERANCE * self.declared_frames):
            self.warn(
                f"{self.spec.path.name}: decoded {i} of the {self.declared_frames} frames the "
                "container declares; the file looks truncated"
            )


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
    spec = discover_inputs([uri])[0]  # raises SourceError naming the path when nothing plays
    return FrameSource.open(InputSpec(camera_id, spec.path, spec.kind), fps)
