"""Media retention: alert snapshots and clips deleted by age and by total size, oldest first.

Only files under ``<media_root>/<camera>/alerts/`` are candidates; the store, the live frames and
anything outside the media root are never touched (symlinks are not followed, and every path is
checked to resolve inside the root). Protected files (clips still being recorded, media of alerts a
person reviewed) are kept whatever their age. Alert rows stay in the store: the dashboard shows a
missing file as gone, the event and its explanation remain.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
MEDIA_EXTS = frozenset({".jpg", ".jpeg", ".png", ".mp4", ".webm"})


@dataclass(frozen=True)
class RetentionReport:
    """What one sweep did."""

    deleted: int
    freed_bytes: int
    kept_bytes: int


def _media_files(root: Path, camera_id: str | None) -> Iterator[tuple[Path, os.stat_result]]:
    """(path, stat) of alert media under ``root/<camera>/alerts/`` (every camera when None);
    no symlinks followed."""
    cameras = sorted(root.iterdir()) if camera_id is None else [root / camera_id]
    for camera in cameras:
        alerts = camera / "alerts"
        if camera.is_symlink() or alerts.is_symlink() or not alerts.is_dir():
            continue
        for entry in os.scandir(alerts):
            if entry.is_file(follow_symlinks=False) and Path(entry.name).suffix in MEDIA_EXTS:
                yield Path(entry.path), entry.stat(follow_symlinks=False)


def enforce_retention(
    media_root: Path, max_age_days: float | None = None, max_total_gb: float | None = None,
    protected: set[str] | None = None, now: float | None = None, camera_id: str | None = None,
) -> RetentionReport:  # fmt: skip
    """Delete unprotected alert media older than ``max_age_days``, then oldest first until the
    rest fits ``max_total_gb``; ``protected`` holds paths relative to the root. ``camera_id``
    limits the sweep (and the size budget) to one camera's media.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "cam" / "alerts").mkdir(parents=True)
        >>> for name, age_days in (("old.jpg", 40), ("new.jpg", 1)):
        ...     p = root / "cam" / "alerts" / name
        ...     _ = p.write_bytes(b"x" * 10)
        ...     os.utime(p, (time.time() - age_days * 86400,) * 2)
        >>> enforce_retention(root, max_age_days=30)
        RetentionReport(deleted=1, freed_bytes=10, kept_bytes=10)
    """
    base = Path(media_root).resolve()
    now = time.time() if now is None else now
    keep = protected or set()
    if camera_id is not None and not (base / camera_id).resolve().is_relative_to(base):
        return RetentionReport(0, 0, 0)
    files = sorted(_media_files(base, camera_id), key=lambda fs: fs[1].st_mtime)
    total = sum(st.st_size for _, st in files)
    limit = None if max_total_gb is None else max_total_gb * 1e9
    deleted = freed = 0
    for path, st in files:
        too_old = max_age_days is not None and now - st.st_mtime > max_age_days * 86400
        too_big = limit is not None and total > limit
        if not (too_old or too_big):
            continue
        relative = path.relative_to(base).as_posix()
        if relative in keep or not path.resolve().is_relative_to(base):
            continue
        try:
            path.unlink()
        except OSError as err:
            log.warning("retention: cannot delete %s: %s", relative, err)
            continue
        deleted, freed, total = deleted + 1, freed + st.st_size, total - st.st_size
    if deleted:
        log.info("retention: deleted %d media files (%.1f MB)", deleted, freed / 1e6)
    return RetentionReport(deleted, freed, total)
