"""Server-side alert queries for the dashboard: filters, paging and totals computed in SQL.

Every filter becomes a parameterised ``WHERE`` clause, so a count is the count of the whole
store, never of a page or a slice. A camera access list, when given, is part of every clause.
Times are wall-clock seconds: live alerts carry epoch timestamps; batch alerts carry seconds into
their video, so their wall-clock time is when the row was written (``WALL_SQL``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.store.reader import AlertRow, StoreReader, _alert

# same expression as the ``alerts_wall`` index of the schema: keep them identical
WALL_SQL = "(CASE WHEN start_time >= 1000000000 THEN start_time ELSE created_at END)"
CSV_COLUMNS = (
    "id", "camera_id", "kind", "rule", "severity", "wall_time", "start_time", "end_time",
    "frame_index", "track_ids", "score", "review", "explanation",
)  # fmt: skip


@dataclass(frozen=True)
class AlertFilter:
    """What the Alerts page asks for; empty fields do not filter.

    ``allowed_cameras`` is the user's access list (None = all cameras); it always applies.

    Example:
        >>> AlertFilter(cameras=("gate",), statuses=("new",)).where()
        ('camera_id IN (?) AND (review IS NULL)', ['gate'])
    """

    cameras: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: float | None = None
    until: float | None = None
    text: str = ""
    allowed_cameras: tuple[str, ...] | None = field(default=None)

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition (``1`` when nothing filters) and its parameters."""
        clauses: list[str] = []
        args: list[Any] = []
        for column, values in (
            ("camera_id", self.cameras), ("kind", self.kinds), ("rule", self.rules),
            ("severity", self.severities),
        ):  # fmt: skip
            if values:
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                args.extend(values)
        if self.allowed_cameras is not None:
            allowed = self.allowed_cameras or ("\x00none",)
            clauses.append(f"camera_id IN ({', '.join('?' * len(allowed))})")
            args.extend(allowed)
        if self.statuses:
            named = [s for s in self.statuses if s != "new"]
            parts = ["review IS NULL"] if "new" in self.statuses else []
            if named:
                parts.append(f"review IN ({', '.join('?' * len(named))})")
                args.extend(named)
            clauses.append(f"({' OR '.join(parts)})")
        if self.since is not None:
            clauses.append(f"{WALL_SQL} >= ?")
            args.append(self.since)
        if self.until is not None:
            clauses.append(f"{WALL_SQL} < ?")
            args.append(self.until)
        if self.text.strip():
            like = "%" + _escape_like(self.text.strip()) + "%"
            cond = " OR ".join(
                f"{c} LIKE ? ESCAPE '\\'" for c in ("explanation", "rule", "camera_id")
            )
            clauses.append(f"({cond} OR id = ?)")
            args.extend([like, like, like, self.text.strip()])
        return (" AND ".join(clauses) or "1"), args


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Facets:
    """Distinct values offered by the filter widgets (within the access list)."""

    cameras: tuple[str, ...]
    kinds: tuple[str, ...]
    rules: tuple[str, ...]
    severities: tuple[str, ...]
    first: float | None
    last: float | None


class AlertQuery:
    """Paged, filtered alert reads over a :class:`StoreReader` connection.

    Example:
        >>> import tempfile, pathlib
        >>> from monitor.store import Store
        >>> db = pathlib.Path(tempfile.mkdtemp()) / "m.db"
        >>> Store(db).close()
        >>> AlertQuery(StoreReader(db)).count(AlertFilter())
        0
    """

    def __init__(self, reader: StoreReader) -> None:
        self.reader = reader
        self.conn = reader.conn

    def count(self, f: AlertFilter) -> int:
        """Number of alerts matching ``f`` in the whole store."""
        where, args = f.where()
        return int(
            self.conn.execute(f"SELECT COUNT(*) FROM alerts WHERE {where}", args).fetchone()[0]
        )

    def page(self, f: AlertFilter, offset: int = 0, limit: int = 50) -> list[AlertRow]:
        """One page of matching alerts, newest wall-clock time first."""
        where, args = f.where()
        sql = (
            f"SELECT * FROM alerts WHERE {where} ORDER BY {WALL_SQL} DESC, id DESC LIMIT ? OFFSET ?"
        )
        return [_alert(r) for r in self.conn.execute(sql, (*args, int(limit), int(offset)))]

    def get(self, alert_id: str, allowed_cameras: Sequence[str] | None = None) -> AlertRow | None:
        """One alert by id, None when unknown or outside the access list."""
        row = self.conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        if row is None or (allowed_cameras is not None and row["camera_id"] not in allowed_cameras):
            return None
        return _alert(row)

    def facets(self, allowed_cameras: Sequence[str] | None = None) -> Facets:
        """Distinct cameras, kinds, rules, severities and the time span (index scans only)."""
        base = AlertFilter(
            allowed_cameras=tuple(allowed_cameras) if allowed_cameras is not None else None
        )
        where, args = base.where()

        def distinct(column: str) -> tuple[str, ...]:
            rows = self.conn.execute(
                f"SELECT DISTINCT {column} FROM alerts WHERE {where} ORDER BY 1", args
            )
            return tuple(str(r[0]) for r in rows)

        span = self.conn.execute(
            f"SELECT MIN({WALL_SQL}), MAX({WALL_SQL}) FROM alerts WHERE {where}", args
        ).fetchone()
        return Facets(
            distinct("camera_id"), distinct("kind"), distinct("rule"), distinct("severity"),
            span[0], span[1],
        )  # fmt: skip

    def wall_time(self, a: AlertRow) -> float:
        """Wall-clock time of an alert (the same rule as ``WALL_SQL``)."""
        return a.start_time if a.start_time >= 1e9 else a.created_at

    def csv_rows(self, f: AlertFilter, limit: int | None = None) -> Iterator[list[Any]]:
        """Header then one list per matching alert (newest first), streamed from SQL."""
        where, args = f.where()
        cols = ", ".join(c if c != "wall_time" else f"{WALL_SQL} AS wall_time" for c in CSV_COLUMNS)
        sql = f"SELECT {cols} FROM alerts WHERE {where} ORDER BY {WALL_SQL} DESC, id DESC"
        if limit is not None:
            sql, args = sql + " LIMIT ?", [*args, int(limit)]
        yield list(CSV_COLUMNS)
        for r in self.conn.execute(sql, args):
            yield list(r)

    def csv_text(self, f: AlertFilter, limit: int | None = None) -> str:
        """The filtered alerts as CSV text; cells that a spreadsheet would run are defused."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        for row in self.csv_rows(f, limit):
            writer.writerow([_defuse(v) for v in row])
        return buf.getvalue()

    def timeline(self, f: AlertFilter, bucket_s: float) -> list[tuple[str, float, int]]:
        """(camera, bucket start, alerts) for matching alerts, bucketed by wall-clock time."""
        where, args = f.where()
        sql = (
            f"SELECT camera_id, CAST({WALL_SQL} / ? AS INTEGER) * ? AS b, COUNT(*) FROM alerts "
            f"WHERE {where} GROUP BY camera_id, b ORDER BY b"
        )
        rows = self.conn.execute(sql, (bucket_s, bucket_s, *args))
        return [(str(r[0]), float(r[1]), int(r[2])) for r in rows]


def _defuse(value: Any) -> Any:
    """Prefix text starting with a formula character so spreadsheets show it as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
