"""Writer side of the store: one per process, every write a transaction (WAL, migrations)."""

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

from monitor.store.schema import (
    ALERT_COLUMNS,
    MIGRATIONS,
    SCHEMA_VERSION,
    StoreError,
    connect,
    damaged_store_named,
)
from monitor.types import Alert

log = logging.getLogger(__name__)


class Store:
    """Writer side of the store. Use one per process; writes are transactions.

    Example:
        >>> import tempfile, pathlib
        >>> s = Store(pathlib.Path(tempfile.mkdtemp()) / "m.db")
        >>> s.schema_version() == SCHEMA_VERSION
        True
    """

    def __init__(self, path: str | Path, wal: bool = True, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = connect(self.path, False, busy_timeout_ms)
        with damaged_store_named(self.path):
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

    def write_detection_counts(
        self, run_id: str, camera_id: str, buckets: dict[tuple[float, str], tuple[int, int, int]]
    ) -> None:
        """Store per-time-bucket class counts: (bucket_start, class) -> (dets, max/frame, frames)."""
        with self.transaction() as cur:
            cur.executemany(
                "INSERT OR REPLACE INTO detection_counts VALUES (?,?,?,?,?,?,?)",
                [(run_id, camera_id, b, c, *v) for (b, c), v in buckets.items()],
            )

    def set_media_root(self, root: str | Path) -> None:
        """Record the folder that stored media paths are relative to (absolute)."""
        with self.transaction() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('media_root', ?)",
                (str(Path(root).resolve()),),
            )

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        self.conn.close()
