"""The store's schema: numbered forward migrations and the connection both sides use.

The schema here is the contract the dashboard reads. Paths to media (snapshots, clips, heatmaps)
are stored relative to the store's media root (recorded in ``meta``) so a reader can resolve
them wherever the database lives, and refuse anything that escapes the root.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
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
    # dashboard: users, sessions, login attempts, audit trail, reviews, label records, filter indexes
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
        pw_hash TEXT NOT NULL,
        cameras_json TEXT,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        client TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        last_seen REAL NOT NULL,
        expires_at REAL NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE login_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL,
        client TEXT NOT NULL,
        at REAL NOT NULL,
        ok INTEGER NOT NULL
    );
    CREATE INDEX login_attempts_user ON login_attempts(username, at);
    CREATE INDEX login_attempts_client ON login_attempts(client, at);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        username TEXT NOT NULL,
        client TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        target TEXT,
        detail_json TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_at ON audit(at);
    CREATE TABLE alert_reviews (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        action TEXT NOT NULL,
        username TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL
    );
    CREATE INDEX alert_reviews_alert ON alert_reviews(alert_id, at);
    CREATE TABLE label_records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('false_alert', 'missed_object')),
        camera_id TEXT NOT NULL,
        alert_id TEXT,
        run_id TEXT,
        frame_index INTEGER,
        time REAL,
        media_path TEXT,
        box_json TEXT,
        label TEXT NOT NULL DEFAULT '',
        comment TEXT NOT NULL DEFAULT '',
        username TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX alerts_kind ON alerts(kind);
    CREATE INDEX alerts_rule ON alerts(rule);
    CREATE INDEX alerts_severity ON alerts(severity);
    CREATE INDEX alerts_review ON alerts(review);
    CREATE INDEX alerts_wall ON alerts(
        (CASE WHEN start_time >= 1000000000 THEN start_time ELSE created_at END)
    );
    """,
    # live service: camera health history (monitor.store.health)
    """
    CREATE TABLE camera_health (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT,
        camera_id TEXT NOT NULL,
        time REAL NOT NULL,
        state TEXT NOT NULL,
        fps_in REAL NOT NULL,
        fps_out REAL NOT NULL,
        frames_in INTEGER NOT NULL,
        frames_out INTEGER NOT NULL,
        dropped INTEGER NOT NULL,
        reconnects INTEGER NOT NULL,
        latency_p50_ms REAL,
        latency_p95_ms REAL,
        error TEXT
    );
    CREATE INDEX camera_health_camera_time ON camera_health(camera_id, time);
    """,
    # batch: the process that owns a run, so a later start can mark a dead one 'interrupted'
    """
    ALTER TABLE runs ADD COLUMN pid INTEGER;
    ALTER TABLE runs ADD COLUMN host TEXT;
    """,
    # notify: delivery outbox, one row per (alert, notifier, episode version) (monitor.store.outbox)
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        notifier TEXT NOT NULL,
        version INTEGER NOT NULL,
        event TEXT NOT NULL CHECK (event IN ('new', 'updated')),
        camera_id TEXT NOT NULL,
        payload_json TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        created_at REAL NOT NULL,
        delivered_at REAL,
        UNIQUE (alert_id, notifier, version)
    );
    CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
    CREATE INDEX outbox_camera ON outbox(camera_id);
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
    with damaged_store_named(path):
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("PRAGMA schema_version").fetchone()  # reads the header: not-a-database fails
    return conn


@contextlib.contextmanager
def damaged_store_named(path: Path) -> Iterator[None]:
    """A file that is not a SQLite database, or a damaged one, as a StoreError naming it (a busy
    or locked database is left to its own error)."""
    try:
        yield
    except sqlite3.DatabaseError as err:
        if isinstance(err, sqlite3.OperationalError):
            raise
        raise StoreError(f"{path}: not a SQLite database, or damaged ({err})") from None
