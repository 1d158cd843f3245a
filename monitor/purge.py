"""Deleting a camera's footage on request: ``purge`` (media and rows) and per-camera retention.

Every path is resolved and must stay inside the media root (symlinks are never followed), so a
tampered row or camera id cannot delete anything else. A purge is recorded in the store's
``audit`` table (who, when, which camera, what was deleted).
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from monitor.schema import ConfigBase
from monitor.store import Store

log = logging.getLogger(__name__)
WALL = "(CASE WHEN {t} >= 1000000000 THEN {t} ELSE {c} END)"
MEDIA_EXTS = frozenset({".jpg", ".jpeg", ".png", ".mp4", ".webm", ".json", ".jsonl"})


class RetentionConfig(ConfigBase):
    """Per-camera media retention; None inherits ``live.retention_days`` / ``retention_gb``."""

    days: float | None = Field(
        None, gt=0, description="Delete this camera's media older than this."
    )
    gb: float | None = Field(None, gt=0, description="Keep this camera's media under this size.")

    @classmethod
    def inherit(cls, live: Any, own: RetentionConfig | None) -> RetentionConfig:
        """The camera's own settings over the global ``live.retention_days`` / ``retention_gb``."""
        base = {"days": live.retention_days, "gb": live.retention_gb}
        return cls.model_validate({**base, **(own.model_dump(exclude_unset=True) if own else {})})


@dataclass(frozen=True)
class PurgeReport:
    """What one purge deleted."""

    camera_id: str
    before: float | None
    alerts: int
    rows: int
    files: int
    freed_bytes: int


def inside(root: Path, relative: str | Path) -> Path | None:
    """``root/relative`` if it resolves inside ``root`` and is not a symlink, else None."""
    if "\x00" in str(relative):
        return None
    base = root.resolve()
    path = base / relative
    target = path.resolve()
    if path.is_symlink() or not target.is_relative_to(base) or target == base:
        return None
    return target


def _media_file(root: Path, relative: str | None) -> Path | None:
    """The file ``root/relative`` when it is one and inside ``root`` (see ``inside``)."""
    path = inside(root, relative) if relative else None
    return path if path is not None and path.is_file() else None


def _unlink(root: Path, relative: str | None) -> int:
    path = _media_file(root, relative)
    if path is None:
        return 0
    size = path.stat().st_size
    path.unlink()
    return size


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _delete_rows(
    conn: sqlite3.Connection, camera: str, before: float | None, ids: list[str]
) -> int:
    """Delete the camera's rows (all, or those before ``before``); returns rows deleted."""
    tables, n = _tables(conn), 0
    cut = f" AND {{col}} < {float(before)}" if before is not None else ""
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for table in ("outbox", "alert_reviews", "label_records"):
            if table in tables:
                n += conn.execute(
                    f"DELETE FROM {table} WHERE alert_id IN ({marks})", chunk
                ).rowcount
        n += conn.execute(f"DELETE FROM alerts WHERE id IN ({marks})", chunk).rowcount
    per_camera = {
        "label_records": "created_at", "camera_health": "time", "sources": "updated_at",
        "detection_counts": WALL.format(t="bucket_start", c="0"), "outbox": "created_at",
    }  # fmt: skip
    for table, col in per_camera.items():
        if table in tables:
            sql = f"DELETE FROM {table} WHERE camera_id = ?" + cut.format(col=col)
            n += conn.execute(sql, (camera,)).rowcount
    return n


def _old_media(root: Path, camera: str, before: float) -> list[str]:
    """Relative paths of media files under ``<root>/<camera>/`` last written before ``before``."""
    folder = inside(root, camera)
    if folder is None or not folder.is_dir():
        return []
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = [d for d in dirnames if not Path(dirpath, d).is_symlink()]
        for name in filenames:
            p = Path(dirpath, name)
            if p.suffix in MEDIA_EXTS and not p.is_symlink() and p.stat().st_mtime < before:
                out.append(p.relative_to(root.resolve()).as_posix())
    return out


def purge_camera(
    db_path: str | Path, camera_id: str, before: float | None = None,
    media_root: str | Path | None = None, user: str | None = None,
) -> PurgeReport:  # fmt: skip
    """Delete a camera's media and store rows (everything, or what is older than ``before``).

    The media root is the store's recorded one unless given; the purge is audited.
    """
    store = Store(db_path)
    conn = store.conn
    try:
        row = conn.execute("SELECT value FROM meta WHERE key='media_root'").fetchone()
        root = Path(media_root or (row[0] if row else Path(db_path).parent)).resolve()
        _check_root(root, Path(db_path), camera_id, given=media_root is not None)
        where, args = "camera_id = ?", [camera_id]
        if before is not None:  # a number, never a string: SQLite orders any text above reals
            where += f" AND {WALL.format(t='start_time', c='created_at')} < {float(before)!r}"
        alerts = conn.execute(
            f"SELECT id, snapshot_path, clip_path, heatmap_path FROM alerts WHERE {where}", args
        ).fetchall()
        paths = [p for a in alerts for p in (a[1], a[2], a[3]) if p]
        if media_root is not None and paths and not any(_media_file(root, p) for p in paths):
            raise PurgeError(
                f"none of the {len(paths)} media files of camera {camera_id!r}'s alerts is "
                f"under --media-root {root}: wrong folder? (nothing deleted)"
            )
        paths += _old_media(root, camera_id, before) if before is not None else []
        freed, files = 0, 0
        for rel in dict.fromkeys(paths):
            size = _unlink(root, rel)
            freed, files = freed + size, files + (size > 0 or 0)
        if before is None:
            files_, freed_ = _remove_folder(root, camera_id)
            files, freed = files + files_, freed + freed_
        with store.transaction():
            rows = _delete_rows(conn, camera_id, before, [a[0] for a in alerts])
            report = PurgeReport(camera_id, before, len(alerts), rows, files, freed)
            _audit(conn, user, report)
        log.info("purged camera %s: %s", camera_id, report)
        return report
    finally:
        store.close()


class PurgeError(ValueError):
    """A purge refused before deleting anything, because it could hit the wrong files."""


def _check_root(root: Path, db_path: Path, camera_id: str, given: bool) -> None:
    """Refuse a media root that is not a folder, or a recorded root elsewhere while the store's
    own folder also holds this camera's media (a copied or moved store would purge the
    original's footage)."""
    if not root.is_dir():
        raise PurgeError(f"media root is not a folder: {root} (nothing deleted)")
    here = db_path.resolve().parent
    if not given and root != here and (own := inside(here, camera_id)) and own.is_dir():
        raise PurgeError(
            f"{db_path} records its media under {root}, but {here / camera_id} is beside it "
            "(a copied or moved store?): pass --media-root to say which to purge (nothing deleted)"
        )


def _remove_folder(root: Path, camera_id: str) -> tuple[int, int]:
    """Delete ``<root>/<camera>/`` and the published live frame; returns (files, bytes)."""
    files = freed = 0
    folder = inside(root, camera_id)
    if folder is not None and folder.is_dir():
        for p in folder.rglob("*"):
            if p.is_file() and not p.is_symlink():
                files, freed = files + 1, freed + p.stat().st_size
        shutil.rmtree(folder)
    for rel in (f"live/{camera_id}.jpg", f"live/{camera_id}.json"):
        size = _unlink(root, rel)
        files, freed = files + (size > 0), freed + size
    return files, freed


def _audit(conn: sqlite3.Connection, user: str | None, report: PurgeReport) -> None:
    if "audit" not in _tables(conn):
        return
    conn.execute(
        "INSERT INTO audit(at, username, client, action, target, detail_json) VALUES (?,?,?,?,?,?)",
        (time.time(), user or getpass.getuser(), "cli", "purge", report.camera_id,
         json.dumps(asdict(report))),
    )  # fmt: skip


def enforce_camera_retention(
    media_root: str | Path, camera_id: str, cfg: RetentionConfig, now: float | None = None,
    protected: set[str] | None = None,
) -> tuple[int, int]:  # fmt: skip
    """Delete a camera's alert media by age, then oldest first over size; returns (files, bytes).

    One sweep implementation serves both: ``monitor.retention.enforce_retention`` on one camera.
    """
    from monitor.retention import enforce_retention

    report = enforce_retention(
        Path(media_root), cfg.days, cfg.gb, protected, now=now, camera_id=camera_id
    )
    return report.deleted, report.freed_bytes
