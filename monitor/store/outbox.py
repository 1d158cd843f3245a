"""The delivery outbox: one row per (alert, notifier, episode version), sent by a worker.

The sink enqueues inside its own connection (the store's writer); the delivery worker updates
status from its own connection. ``UNIQUE(alert_id, notifier, version)`` makes a re-enqueue a
no-op, and the first row of an alert for a notifier is its only ``new`` event.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.store.schema import connect


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery of one alert version through one notifier, as stored."""

    id: int
    alert_id: str
    notifier: str
    version: int
    event: str
    camera_id: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    delivered_at: float | None

    @classmethod
    def from_row(cls, r: sqlite3.Row) -> DeliveryRow:
        """Build from a ``SELECT * FROM outbox`` row."""
        d = dict(r)
        d["payload"] = json.loads(d.pop("payload_json"))
        return cls(**d)


def enqueue(
    conn: sqlite3.Connection, alert_id: str, camera_id: str, version: int,
    notifiers: Sequence[str], payload: dict[str, Any], now: float | None = None,
) -> int:  # fmt: skip
    """Add a pending delivery per notifier unless this version is queued; returns rows added.

    The event is ``new`` for an alert's first row per notifier, ``updated`` after that.
    """
    now = time.time() if now is None else now
    added = 0
    for name in notifiers:
        seen = conn.execute(
            "SELECT MAX(version) FROM outbox WHERE alert_id=? AND notifier=?", (alert_id, name)
        ).fetchone()[0]
        if seen is not None and seen >= version:
            continue
        body = {**payload, "event": "new" if seen is None else "updated", "version": version}
        cur = conn.execute(
            "INSERT OR IGNORE INTO outbox(alert_id, notifier, version, event, camera_id, "
            "payload_json, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (alert_id, name, version, body["event"], camera_id, json.dumps(body, default=str),
             now, now),
        )  # fmt: skip
        added += cur.rowcount
    conn.commit()
    return added


def due(
    conn: sqlite3.Connection, now: float, notifiers: Sequence[str], limit: int = 50
) -> list[DeliveryRow]:
    """Pending deliveries whose time has come, oldest first, for the given notifiers."""
    if not notifiers:
        return []
    marks = ",".join("?" * len(notifiers))
    rows = conn.execute(
        f"SELECT * FROM outbox WHERE status='pending' AND next_attempt_at<=? "
        f"AND notifier IN ({marks}) ORDER BY next_attempt_at, id LIMIT ?",
        (now, *notifiers, limit),
    ).fetchall()
    return [DeliveryRow.from_row(r) for r in rows]


def pending_count(conn: sqlite3.Connection, notifiers: Sequence[str] | None = None) -> int:
    """Deliveries still pending (all notifiers, or the given ones)."""
    if notifiers is None:
        return int(conn.execute("SELECT COUNT(*) FROM outbox WHERE status='pending'").fetchone()[0])
    marks = ",".join("?" * len(notifiers)) or "''"
    sql = f"SELECT COUNT(*) FROM outbox WHERE status='pending' AND notifier IN ({marks})"
    return int(conn.execute(sql, tuple(notifiers)).fetchone()[0])


def mark_delivered(conn: sqlite3.Connection, row_id: int, now: float | None = None) -> None:
    """Record a successful delivery."""
    conn.execute(
        "UPDATE outbox SET status='delivered', attempts=attempts+1, delivered_at=?, "
        "last_error=NULL WHERE id=?",
        (time.time() if now is None else now, row_id),
    )
    conn.commit()


def mark_failed_attempt(
    conn: sqlite3.Connection, row_id: int, error: str, retry_at: float | None
) -> None:
    """Record a failed attempt: retry at ``retry_at``, or give up (``failed``) when None."""
    status = "pending" if retry_at is not None else "failed"
    conn.execute(
        "UPDATE outbox SET status=?, attempts=attempts+1, last_error=?, "
        "next_attempt_at=COALESCE(?, next_attempt_at) WHERE id=?",
        (status, error[:500], retry_at, row_id),
    )
    conn.commit()


def delivery_status(db_path: str | Path, alert_id: str | None = None) -> list[DeliveryRow]:
    """Read side: deliveries of one alert (or all), for the dashboard; opens the DB read-only."""
    conn = connect(Path(db_path), True, 5000)
    try:
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE name='outbox'").fetchone()
        if not has:
            return []
        sql, args = "SELECT * FROM outbox", tuple[str, ...]()
        if alert_id is not None:
            sql, args = sql + " WHERE alert_id=?", (alert_id,)
        rows = conn.execute(sql + " ORDER BY alert_id, notifier, version", args).fetchall()
        return [DeliveryRow.from_row(r) for r in rows]
    finally:
        conn.close()
