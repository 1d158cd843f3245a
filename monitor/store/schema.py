"""The store's schema: numbered forward migrations and the connection both sides use.

The schema here is the contract the dashboard reads. Paths to media (snapshots, clips, heatmaps)
are stored relative to the store's media root (recorded in ``meta``) so a reader can resolve
them wherever the database lives, and refuse anything that escapes the root.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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


def connect(path: Path, readonly: bool, busy_timeout_ms: int) -> sqlite3.Connection:
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
