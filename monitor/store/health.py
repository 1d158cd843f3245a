"""Camera health rows: written by the live service's sink, read by the dashboard, CLI and tests.

Kept beside ``writer``/``reader`` rather than inside them so the health history has one small home;
the writer side takes a ``Store`` (the run's one writer), the read side any SQLite connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.store.writer import Store

# Columns after run_id; ``monitor.health.HealthSample`` has these fields. Named here, not imported,
# so the store (which the dashboard reads) does not pull in the health model and its OpenCV.
HEALTH_COLUMNS = (
    "camera_id", "time", "state", "fps_in", "fps_out", "frames_in", "frames_out", "dropped",
    "reconnects", "latency_p50_ms", "latency_p95_ms", "error",
)  # fmt: skip


@dataclass(frozen=True)
class HealthRow:
    """One stored health reading of one camera."""

    id: int
    run_id: str | None
    camera_id: str
    time: float
    state: str
    fps_in: float
    fps_out: float
    frames_in: int
    frames_out: int
    dropped: int
    reconnects: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    error: str | None


def write_health(store: Store, run_id: str | None, samples: Sequence[Any]) -> None:
    """Append health readings (``HealthSample``-like objects); history is kept, one row each."""
    cols = ", ".join(("run_id", *HEALTH_COLUMNS))
    marks = ", ".join("?" * (len(HEALTH_COLUMNS) + 1))
    rows = [(run_id, *(getattr(s, c) for c in HEALTH_COLUMNS)) for s in samples]
    with store.transaction() as cur:
        cur.executemany(f"INSERT INTO camera_health({cols}) VALUES ({marks})", rows)


def read_health(
    conn: sqlite3.Connection, camera_id: str | None = None, since: float | None = None,
    limit: int = 10_000,
) -> list[HealthRow]:  # fmt: skip
    """Health rows in time order, optionally of one camera and from ``since`` (wall time) on."""
    where: list[str] = []
    args: list[str | float] = []
    if camera_id is not None:
        where.append("camera_id = ?")
        args.append(camera_id)
    if since is not None:
        where.append("time >= ?")
        args.append(since)
    sql = "SELECT * FROM camera_health" + (f" WHERE {' AND '.join(where)}" if where else "")
    rows = conn.execute(sql + " ORDER BY time, id LIMIT ?", (*args, limit)).fetchall()
    return [HealthRow(*tuple(r)) for r in rows]


def latest_health(conn: sqlite3.Connection) -> dict[str, HealthRow]:
    """The newest row of every camera (what a status page shows)."""
    rows = conn.execute(
        "SELECT * FROM camera_health WHERE id IN (SELECT MAX(id) FROM camera_health "
        "GROUP BY camera_id) ORDER BY camera_id"
    ).fetchall()
    return {r["camera_id"]: HealthRow(*tuple(r)) for r in rows}
