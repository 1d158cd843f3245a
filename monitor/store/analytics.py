"""Aggregates for the dashboard's Analytics and Runs pages, computed in SQL.

Class counts over time come from ``detection_counts``; counts per zone and line from alert
rows; the false-alert rate per rule from operator reviews. A run still marked ``running`` whose
last sign of life is older than ``stale_after_s``, or whose recorded process (``pid`` on this
host) is gone, is reported as ``interrupted``: a killed process never gets to close its run.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.store.reader import RunRow, StoreReader, run_row


@dataclass(frozen=True)
class RuleReviewStats:
    """Reviews of one rule's alerts: how many were rejected as false."""

    kind: str
    rule: str
    alerts: int
    reviewed: int
    rejected: int

    @property
    def false_rate(self) -> float | None:
        """Rejected / reviewed, None before any review."""
        return self.rejected / self.reviewed if self.reviewed else None


@dataclass(frozen=True)
class RunStatus:
    """A run with the status the dashboard shows (``interrupted`` for a dead ``running``)."""

    run: RunRow
    status: str
    last_activity: float
    inputs: int


def _process_gone(r: sqlite3.Row) -> bool:
    """True when the run's recorded process (this host only) no longer exists."""
    keys = r.keys()
    pid = r["pid"] if "pid" in keys else None
    host = r["host"] if "host" in keys else None
    if not pid or host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, ValueError):
        return False
    return False


def _in(column: str, cams: Sequence[str] | None) -> tuple[str, list[Any]]:
    if cams is None:
        return "1", []
    allowed = list(cams) or ["\x00none"]
    return f"{column} IN ({', '.join('?' * len(allowed))})", allowed


class Analytics:
    """Read-only aggregates over a :class:`StoreReader` connection.

    Example:
        >>> import tempfile, pathlib
        >>> from monitor.store import Store
        >>> db = pathlib.Path(tempfile.mkdtemp()) / "m.db"
        >>> Store(db).close()
        >>> Analytics(StoreReader(db)).class_counts()
        []
    """

    def __init__(self, reader: StoreReader) -> None:
        self.conn = reader.conn

    def class_counts(
        self, cameras: Sequence[str] | None = None, bucket_s: float = 60.0
    ) -> list[tuple[float, str, str, int]]:
        """(bucket start, camera, class, detections) summed over runs, by time."""
        where, args = _in("camera_id", cameras)
        sql = (
            "SELECT CAST(bucket_start / ? AS INTEGER) * ? AS b, camera_id, class_name, "
            f"SUM(detections) FROM detection_counts WHERE {where} GROUP BY b, camera_id, "
            "class_name ORDER BY b"
        )
        rows = self.conn.execute(sql, (bucket_s, bucket_s, *args))
        return [(float(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in rows]

    def per_rule(self, cameras: Sequence[str] | None = None) -> list[tuple[str, str, str, int]]:
        """(camera, kind, rule, alerts): counts per zone, line and other rule."""
        where, args = _in("camera_id", cameras)
        sql = (
            f"SELECT camera_id, kind, rule, COUNT(*) FROM alerts WHERE {where} "
            "GROUP BY camera_id, kind, rule ORDER BY 4 DESC"
        )
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3])) for r in self.conn.execute(sql, args)]

    def review_stats(self, cameras: Sequence[str] | None = None) -> list[RuleReviewStats]:
        """Per rule: alerts, reviewed ones and those rejected as false."""
        where, args = _in("camera_id", cameras)
        sql = (
            "SELECT kind, rule, COUNT(*), SUM(review IS NOT NULL), SUM(review = 'rejected') "
            f"FROM alerts WHERE {where} GROUP BY kind, rule ORDER BY kind, rule"
        )
        return [
            RuleReviewStats(str(r[0]), str(r[1]), int(r[2]), int(r[3] or 0), int(r[4] or 0))
            for r in self.conn.execute(sql, args)
        ]

    def run_statuses(
        self, stale_after_s: float = 900.0, now: float | None = None
    ) -> list[RunStatus]:
        """Runs newest first; a ``running`` run silent for ``stale_after_s`` is ``interrupted``."""
        now = time.time() if now is None else now
        activity = self._last_activity()
        inputs = dict(
            self.conn.execute("SELECT run_id, COUNT(*) FROM sources GROUP BY run_id").fetchall()
        )
        out = []
        for r in self.conn.execute("SELECT * FROM runs ORDER BY started_at DESC"):
            run = run_row(r)
            last = max(activity.get(run.id, 0.0), run.started_at)
            status = run.status
            if status == "running" and (now - last > stale_after_s or _process_gone(r)):
                status = "interrupted"
            out.append(RunStatus(run, status, last, int(inputs.get(run.id, 0))))
        return out

    def _last_activity(self) -> dict[str, float]:
        """Latest write per run: source states, alerts and (if present) camera heartbeats."""
        last: dict[str, float] = {}
        queries = [
            "SELECT run_id, MAX(updated_at) FROM sources GROUP BY run_id",
            "SELECT run_id, MAX(updated_at) FROM alerts WHERE run_id IS NOT NULL GROUP BY run_id",
        ]
        for sql in queries:
            for run_id, t in self.conn.execute(sql):
                last[run_id] = max(last.get(run_id, 0.0), float(t or 0.0))
        try:  # the live driver's health table, when this store has it
            cols = {r[1] for r in self.conn.execute("PRAGMA table_info(camera_health)")}
            if {"run_id", "time"} <= cols:
                sql = "SELECT run_id, MAX(time) FROM camera_health GROUP BY run_id"
                for run_id, t in self.conn.execute(sql):
                    last[run_id] = max(last.get(run_id, 0.0), float(t or 0.0))
        except sqlite3.OperationalError:
            pass
        return last
