"""Operator reviews of alerts and the label records they leave for the fine-tuning loop.

Each action (acknowledge, resolve, reject as false) is one ``alert_reviews`` row with user, time
and comment, the alert's ``review`` column holds the latest status, and an ``audit`` row records
it. Rejections and "missed object" marks become ``label_records`` rows: hard negatives and missed
positives that the training side reads with :meth:`ReviewStore.label_records`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.store.schema import StoreError, connect

ACTIONS = {"acknowledge": "acknowledged", "resolve": "resolved", "reject": "rejected"}
STATUSES = ("new", "acknowledged", "resolved", "rejected")


@dataclass(frozen=True)
class ReviewRow:
    """One review action on an alert."""

    alert_id: str
    action: str
    username: str
    comment: str
    at: float


@dataclass(frozen=True)
class LabelRecord:
    """A correction for training: a false alert (negative) or a missed object (positive).

    ``box`` is ``(x1, y1, x2, y2)`` in frame pixels when the operator gave one; ``media_path``
    is the alert snapshot (relative to the media root) the correction refers to.
    """

    id: int
    kind: str
    camera_id: str
    alert_id: str | None
    run_id: str | None
    frame_index: int | None
    time: float | None
    media_path: str | None
    box: tuple[float, float, float, float] | None
    label: str
    comment: str
    username: str
    created_at: float


class ReviewStore:
    """Writes reviews and label records; reads them back for the dashboard and for training.

    Example:
        >>> import tempfile, pathlib
        >>> from monitor.store import Store
        >>> db = pathlib.Path(tempfile.mkdtemp()) / "m.db"
        >>> Store(db).close()
        >>> ReviewStore(db).label_records()
        []
    """

    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise StoreError(f"store not found: {self.path}")
        self.conn = connect(self.path, False, busy_timeout_ms)

    def review(
        self, alert_id: str, action: str, username: str, comment: str = "", client: str = ""
    ) -> str:
        """Apply ``action`` to an alert; returns its new status. KeyError if the alert is unknown."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {sorted(ACTIONS)}, got {action!r}")
        status, now = ACTIONS[action], time.time()
        row = self.conn.execute(
            "SELECT camera_id, run_id, frame_index, start_time, snapshot_path, rule, kind "
            "FROM alerts WHERE id = ?",
            (alert_id,),
        ).fetchone()
        if row is None:
            raise KeyError(f"no alert {alert_id!r}")
        with self.conn:
            self.conn.execute("UPDATE alerts SET review = ? WHERE id = ?", (status, alert_id))
            self.conn.execute(
                "INSERT INTO alert_reviews(alert_id, action, username, comment, at) "
                "VALUES (?,?,?,?,?)",
                (alert_id, action, username, comment, now),
            )
            self.conn.execute(
                "INSERT INTO audit(at, username, client, action, target, detail_json) "
                "VALUES (?,?,?,?,?,?)",
                (now, username, client, f"alert_{action}", alert_id,
                 json.dumps({"status": status, "comment": comment})),
            )  # fmt: skip
            if action == "reject":
                self.conn.execute(
                    "INSERT INTO label_records(kind, camera_id, alert_id, run_id, frame_index, "
                    "time, media_path, label, comment, username, created_at) "
                    "VALUES ('false_alert',?,?,?,?,?,?,?,?,?,?)",
                    (row["camera_id"], alert_id, row["run_id"], row["frame_index"],
                     row["start_time"], row["snapshot_path"], f"{row['kind']}:{row['rule']}",
                     comment, username, now),
                )  # fmt: skip
        return status

    def mark_missed(
        self, camera_id: str, username: str, *, label: str = "person", comment: str = "",
        alert_id: str | None = None, frame_index: int | None = None, at: float | None = None,
        box: Sequence[float] | None = None, client: str = "",
    ) -> int:  # fmt: skip
        """Record an object the pipeline missed (near an alert, or on a camera); returns its id."""
        run_id = media = None
        if alert_id is not None:
            row = self.conn.execute(
                "SELECT run_id, frame_index, start_time, snapshot_path FROM alerts WHERE id = ?",
                (alert_id,),
            ).fetchone()
            if row is not None:
                run_id, media = row["run_id"], row["snapshot_path"]
                frame_index = row["frame_index"] if frame_index is None else frame_index
                at = row["start_time"] if at is None else at
        if box is not None and len(box) != 4:
            raise ValueError("box must be (x1, y1, x2, y2)")
        now = time.time()
        with self.conn:
            cur = self.conn.execute(
                "INSERT INTO label_records(kind, camera_id, alert_id, run_id, frame_index, time, "
                "media_path, box_json, label, comment, username, created_at) "
                "VALUES ('missed_object',?,?,?,?,?,?,?,?,?,?,?)",
                (camera_id, alert_id, run_id, frame_index, at, media,
                 json.dumps([float(v) for v in box]) if box is not None else None,
                 label, comment, username, now),
            )  # fmt: skip
            self.conn.execute(
                "INSERT INTO audit(at, username, client, action, target, detail_json) "
                "VALUES (?,?,?,?,?,?)",
                (now, username, client, "missed_object", alert_id or camera_id,
                 json.dumps({"label": label, "comment": comment})),
            )  # fmt: skip
        return int(cur.lastrowid or 0)

    def history(self, alert_id: str) -> list[ReviewRow]:
        """Review actions on one alert, oldest first (the audit trail the UI shows)."""
        rows = self.conn.execute(
            "SELECT alert_id, action, username, comment, at FROM alert_reviews "
            "WHERE alert_id = ? ORDER BY at, id",
            (alert_id,),
        )
        return [ReviewRow(**dict(r)) for r in rows]

    def label_records(self, kind: str | None = None, since: float = 0.0) -> list[LabelRecord]:
        """Corrections for training, oldest first; ``kind`` false_alert or missed_object."""
        sql = "SELECT * FROM label_records WHERE created_at >= ?"
        args: list[object] = [since]
        if kind:
            sql, args = sql + " AND kind = ?", [*args, kind]
        out = []
        for r in self.conn.execute(sql + " ORDER BY id", args):
            d = dict(r)
            raw = d.pop("box_json")
            box = tuple(json.loads(raw)) if raw else None
            out.append(LabelRecord(**d, box=box))  # type: ignore[arg-type]
        return out

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
