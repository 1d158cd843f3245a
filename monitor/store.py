"""Embedded alert store: SQLite in WAL mode, numbered forward migrations, one writer.

The schema here is the contract the dashboard reads. Paths to media (snapshots, clips, heatmaps)
are stored relative to the store's media root so a reader can refuse anything that escapes it.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from monitor.types import Alert

log = logging.getLogger(__name__)

# Each entry migrates from version i to i+1. Never edit a released entry; append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        started_at REAL NOT NULL,
        finished_at REAL,
        status TEXT NOT NULL DEFAULT 'running',
        config_json TEXT NOT NULL DEFAULT '{}',
        summary_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE sources (
        run_id TEXT NOT NULL REFERENCES runs(id),
        camera_id TEXT NOT NULL,
        uri TEXT NOT NULL,
        status TEXT NOT NULL,
        frames INTEGER NOT NULL DEFAULT 0,
        fps REAL,
        error TEXT,
        updated_at REAL NOT NULL,
        PRIMARY KEY (run_id, camera_id)
    );
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY,
        run_id TEXT,
        camera_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        rule TEXT NOT NULL,
        severity TEXT NOT NULL,
        start_time REAL NOT NULL,
        end_time REAL NOT NULL,
        frame_index INTEGER NOT NULL,
        track_ids TEXT NOT NULL,
        score REAL NOT NULL,
        explanation TEXT NOT NULL,
        data_json TEXT NOT NULL,
        snapshot_path TEXT,
        clip_path TEXT,
        heatmap_path TEXT,
        review TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX alerts_camera_time ON alerts(camera_id, start_time);
    CREATE INDEX alerts_created ON alerts(created_at);
    CREATE TABLE detection_counts (
        run_id TEXT NOT NULL,
        camera_id TEXT NOT NULL,
        bucket_start REAL NOT NULL,
        class_name TEXT NOT NULL,
        detections INTEGER NOT NULL,
        max_per_frame INTEGER NOT NULL,
        frames INTEGER NOT NULL,
        PRIMARY KEY (run_id, camera_id, bucket_start, class_name)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

ALERT_COLUMNS = (
    "id", "run_id", "camera_id", "kind", "rule", "severity", "start_time", "end_time",
    "frame_index", "track_ids", "score", "explanation", "data_json", "snapshot_path",
    "clip_path", "heatmap_path", "review", "created_at", "updated_at",
)  # fmt: skip


class StoreError(RuntimeError):
    """The database cannot be opened or is newer than this code."""


def _connect(path: Path, readonly: bool, busy_timeout_ms: int) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout_ms / 1000, check_same_thread=False
        )
    except sqlite3.OperationalError as err:
        raise StoreError(f"cannot open store {path}: {err}") from None
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    return conn


class Store:
    """Writer side of the store. Use one per process; writes are transactions.

    Example:
        >>> import tempfile, pathlib
        >>> s = Store(pathlib.Path(tempfile.mkdtemp()) / "m.db")
        >>> s.schema_version()
        1
    """

    def __init__(self, path: str | Path, wal: bool = True, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = _connect(self.path, False, busy_timeout_ms)
        if wal:
            mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: could not enable WAL (journal_mode={mode})")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def schema_version(self) -> int:
        """Schema version recorded in the file (``PRAGMA user_version``)."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema {current}, newer than this code ({SCHEMA_VERSION})"
            )
        if current == SCHEMA_VERSION:
            return
        if current > 0:
            backup = self.path.with_suffix(self.path.suffix + f".v{current}.bak")
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            shutil.copy2(self.path, backup)
            log.info("backed up %s to %s before migrating", self.path, backup)
        for version in range(current, SCHEMA_VERSION):
            with self.transaction() as cur:
                cur.executescript(
                    f"BEGIN; {MIGRATIONS[version]}; PRAGMA user_version = {version + 1};"
                )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """A cursor whose statements commit together or not at all."""
        cur = self.conn.cursor()
        try:
            yield cur
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        finally:
            cur.close()

    def begin_run(self, run_id: str, kind: str, config: dict[str, Any]) -> None:
        """Record the start of a batch or live run."""
        with self.transaction() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO runs(id, kind, started_at, config_json) VALUES (?,?,?,?)",
                (run_id, kind, time.time(), json.dumps(config, default=str)),
            )

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        """Close a run with its final status and summary."""
        with self.transaction() as cur:
            cur.execute(
                "UPDATE runs SET finished_at=?, status=?, summary_json=? WHERE id=?",
                (time.time(), status, json.dumps(summary, default=str), run_id),
            )

    def record_source(
        self, run_id: str, camera_id: str, uri: str, status: str, frames: int = 0,
        fps: float | None = None, error: str | None = None,
    ) -> None:  # fmt: skip
        """Upsert the processing state of one input of a run."""
        with self.transaction() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO sources VALUES (?,?,?,?,?,?,?,?)",
                (run_id, camera_id, uri, status, frames, fps, error, time.time()),
            )

    def write_alerts(self, alerts: Sequence[Alert], run_id: str | None = None) -> None:
        """Insert or update alerts by id (an alert's episode grows while it is open)."""
        now = time.time()
        rows = [
            (
                a.id, run_id, a.camera_id, a.kind, a.rule, a.severity, a.start_time, a.end_time,
                a.frame_index, json.dumps(list(a.track_ids)), float(a.score), a.explanation,
                json.dumps(dict(a.data), default=str), a.snapshot_path, a.clip_path,
                a.heatmap_path, None, now, now,
            )
            for a in alerts
        ]  # fmt: skip
        update = ", ".join(
            f"{c}=excluded.{c}" for c in ALERT_COLUMNS if c not in ("id", "created_at", "review")
        )
        with self.transaction() as cur:
            cur.executemany(
                f"INSERT INTO alerts({', '.join(ALERT_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(ALERT_COLUMNS))}) ON CONFLICT(id) DO UPDATE SET {update}",
                rows,
            )

    def write_alert(self, alert: Alert, run_id: str | None = None) -> None:
        """Insert or update one alert."""
        self.write_alerts([alert], run_id)

    def write_detection_counts(
        self, run_id: str, camera_id: str, buckets: dict[tuple[float, str], tuple[int, int, int]]
    ) -> None:
        """Store per-time-bucket class counts: (bucket_start, class) -> (dets, max/frame, frames)."""
        with self.transaction() as cur:
            cur.executemany(
                "INSERT OR REPLACE INTO detection_counts VALUES (?,?,?,?,?,?,?)",
                [(run_id, camera_id, b, c, *v) for (b, c), v in buckets.items()],
            )

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        self.conn.close()


class StoreReader:
    """Read-only view used by the dashboard; never blocks the writer (WAL readers)."""

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError(f"store not found: {self.path}")
        self.conn = _connect(self.path, True, busy_timeout_ms)

    def alerts(
        self, camera_id: str | None = None, kind: str | None = None, limit: int = 500
    ) -> list[dict[str, Any]]:
        """Newest alerts first, optionally filtered; JSON columns decoded."""
        where, args = [], []
        if camera_id:
            where.append("camera_id = ?")
            args.append(camera_id)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        sql = "SELECT * FROM alerts" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY created_at DESC, start_time DESC LIMIT ?"
        rows = self.conn.execute(sql, (*args, limit)).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["track_ids"] = json.loads(d["track_ids"])
            d["data"] = json.loads(d.pop("data_json"))
            out.append(d)
        return out

    def runs(self) -> list[dict[str, Any]]:
        """All runs, newest first."""
        return [dict(r) for r in self.conn.execute("SELECT * FROM runs ORDER BY started_at DESC")]

    def sources(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """Per-input processing states."""
        sql, args = "SELECT * FROM sources", tuple[str, ...]()
        if run_id:
            sql, args = sql + " WHERE run_id = ?", (run_id,)
        return [dict(r) for r in self.conn.execute(sql, args)]

    def detection_counts(self, camera_id: str | None = None) -> list[dict[str, Any]]:
        """Per-bucket class counts for analytics."""
        sql, args = "SELECT * FROM detection_counts", tuple[str, ...]()
        if camera_id:
            sql, args = sql + " WHERE camera_id = ?", (camera_id,)
        return [dict(r) for r in self.conn.execute(sql + " ORDER BY bucket_start", args)]

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def resolve_media(root: str | Path, relative: str | None) -> Path | None:
    """Absolute path of a stored media file, or None if missing or outside ``root``."""
    if not relative:
        return None
    base = Path(root).resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target
