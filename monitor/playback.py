"""What a ``file:`` camera plays: a video or a folder of frames, at which rate, from which second.

``file:PATH`` names a video file or a frame folder (a MOT ``img1/`` layout reads its rate from
``seqinfo.ini``); an optional ``#t=SECONDS`` fragment (W3C media-fragment syntax) starts playback
later, so one recording can be two cameras offset in time. Folders play through FFmpeg's image
sequence reader, which needs a ``%0Nd`` file-name pattern and is told the rate explicitly.

Self-contained on purpose: ``monitor.cameras`` imports it, and ``monitor.sources`` (which has the
batch-side folder listing) imports ``monitor.cameras``; importing sources here would be a cycle.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

_FRAGMENT = re.compile(r"#t=(?P<t>\d+(?:\.\d+)?)$")
_IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
_DEFAULT_FPS = 25.0
_NUMBERED = re.compile(r"^(?P<stem>.*?)(?P<digits>\d+)(?P<ext>\.[A-Za-z]+)$")


@dataclass(frozen=True)
class Playback:
    """A resolved ``file:`` target: what OpenCV opens, its rate (None: the file's own), start."""

    target: str
    fps: float | None
    start_s: float = 0.0


def _seqinfo_fps(folder: Path) -> float | None:
    """``frameRate`` of a MOT ``seqinfo.ini`` beside ``img1/`` (or in the folder), if any."""
    parser = configparser.ConfigParser()
    for ini in (folder.parent / "seqinfo.ini", folder / "seqinfo.ini"):
        try:
            if ini.is_file() and parser.read(ini):
                return float(parser["Sequence"]["frameRate"])
        except (KeyError, ValueError, configparser.Error):
            return None
    return None


def _frame_pattern(folder: Path) -> str:
    """``folder/%06d.jpg`` for a folder of consecutively numbered frames (FFmpeg image2)."""
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_EXTS)
    if not images:
        raise ValueError(f"no image frames in folder: {folder}")
    m = _NUMBERED.match(images[0].name)
    if not m:
        raise ValueError(f"frame names must end in a number to play as a camera: {images[0]}")
    stem, digits, ext = m.group("stem"), m.group("digits"), m.group("ext")
    return str(folder / f"{stem.replace('%', '%%')}%0{len(digits)}d{ext}")


def resolve_file_uri(uri: str, fps: float | None = None) -> Playback:
    """The playback of a ``file:`` URI; ``fps`` is the rate of a folder without ``seqinfo.ini``.

    Example:
        >>> resolve_file_uri("file:clip.mp4#t=12.5")
        Playback(target='clip.mp4', fps=None, start_s=12.5)
    """
    path = unquote(uri[7:]) if uri.startswith("file://") else uri[5:]
    start = 0.0
    if m := _FRAGMENT.search(path):
        start, path = float(m.group("t")), path[: m.start()]
    folder = Path(path)
    if not folder.is_dir():
        return Playback(path, fps, start)
    if (folder / "img1").is_dir():
        folder = folder / "img1"
    rate = _seqinfo_fps(folder) or fps or _DEFAULT_FPS
    return Playback(_frame_pattern(folder), rate, start)
