"""Read side of the store: typed rows for the dashboard and the CLI; never blocks the writer.

Rows are frozen dataclasses, not dicts, so a renamed column fails loudly at the boundary.
Media paths resolve through the media root the writer recorded, never outside it.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from monitor.store.schema import StoreError, connect


@dataclass(frozen=True)
class AlertRow:
    """One stored alert as the dashboard shows it."""

    id: str
    run_id: str | None
    camera_id: str
    kind: str
    rule: str
    severity: str
    start_time: float
    end_time: float
    frame_index: int
    track_ids: tuple[int, ...]
    score: float
    explanation: str
    data: dict[str, Any] = field(default_factory=dict)
    snapshot_path: str | None = None
    clip_path: str | None = None
    heatmap_path: str | None = None
    review: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0


@dataclass(frozen=True)
class RunRow:
    """A batch or live run and its outcome."""

    id: str
    kind: str
    started_at: float
    finished_at: float | None
    status: str
    config: dict[str, Any]
    summary: dict[str, Any]
    pid: int | None = None
    host: str | None = None


@dataclass(frozen=True)
class SourceRow:
    """The processing state of one input (or camera) of a run."""

    run_id: str
    camera_id: str
    uri: str
    status: str
    frames: int
    fps: float | None
    error: str | None
    updated_at: float


@dataclass(frozen=True)
class CountRow:
    """Detections of one class in one time bucket of one camera."""

    run_id: str
    camera_id: str
    bucket_start: float
    class_name: str
    detections: int
    max_per_frame: int
    frames: int


def run_row(r: sqlite3.Row) -> RunRow:
    """A ``runs`` row as a ``RunRow`` (JSON columns decoded; columns of later schemas optional)."""
    d = dict(r)
    d["config"] = json.loads(d.pop("config_json") or "{}")
    d["summary"] = json.loads(d.pop("summary_json") or "{}")
    return RunRow(**{f.name: d[f.name] for f in fields(RunRow) if f.name in d})


def _alert(r: sqlite3.Row) -> AlertRow:
    d = dict(r)
    d["track_ids"] = tuple(json.loads(d["track_ids"]))
    d["data"] = json.loads(d.pop("data_json"))
    return AlertRow(**{f.name: d[f.name] for f in fields(AlertRow)})


class StoreReader:
    """Read-only view used by the dashboard; never blocks the writer (WAL readers)."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError(f"store not found: {self.path}")
        self.conn = connect(self.path, True, busy_timeout_ms)

    def media_root(self) -> Path:
        """Folder that media paths are relative to: as recorded, else the database's folder."""
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'media_root'").fetchone()
        except sqlite3.OperationalError:  # a store from before the meta table
            row = None
        return Path(row[0]) if row else self.path.resolve().parent

    def alerts(
        self, camera_id: str | None = None, kind: str | None = None, limit: int = 500
    ) -> list[AlertRow]:
        """Newest alerts first, optionally filtered by camera and kind."""
        where, args = [], []
        if camera_id:
            where.append("camera_id = ?")
            args.append(camera_id)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        sql = "SELECT * FROM alerts" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY created_at DESC, start_time DESC LIMIT ?"
        return [_alert(r) for r in self.conn.execute(sql, (*args, limit)).fetchall()]

    def runs(self) -> list[RunRow]:
        """All runs, newest first."""
        return [
            run_row(r) for r in self.conn.execute("SELECT * FROM runs ORDER BY started_at DESC")
        ]

    def sources(self, run_id: str | None = None) -> list[SourceRow]:
        """Per-input processing states."""
        sql, args = "SELECT * FROM sources", tuple[str, ...]()
        if run_id:
            sql, args = sql + " WHERE run_id = ?", (run_id,)
        return [SourceRow(**dict(r)) for r in self.conn.execute(sql, args)]

    def detection_counts(self, camera_id: str | None = None) -> list[CountRow]:
        """Per-bucket class counts for analytics."""
        sql, args = "SELECT * FROM detection_counts", tuple[str, ...]()
        if camera_id:
            sql, args = sql + " WHERE camera_id = ?", (camera_id,)
        return [
            CountRow(**dict(r)) for r in self.conn.execute(sql + " ORDER BY bucket_start", args)
        ]

    def resolve(self, relative: str | None) -> Path | None:
        """Absolute path of a stored media file under this store's media root, else None."""
        return resolve_media(self.media_root(), relative)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def resolve_media(root: str | Path, relative: str | None) -> Path | None:
    """Absolute path of a stored media file, or None if missing or outside ``root``."""
    if not relative or "\x00" in relative:
        return None
    base = Path(root).resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target
