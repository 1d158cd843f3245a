"""Batch bookkeeping apart from the frame loop: which folder an input owns, whether it is finished,
which process owns a run, and what an unfinished input left in the store.

An input is keyed by its content fingerprint (``sources.fingerprint``), not its name: a different
file with the same name gets its own folder (``<name>-<fingerprint>``), and a changed file is
processed again instead of being reported "already done".
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path
from typing import Any

from monitor.recording import write_bytes_atomic
from monitor.store import Store

log = logging.getLogger(__name__)
INPUT_FILE = ".input.json"  # written when an input starts: its fingerprint and redacted path


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def output_folder(out_dir: Path, name: str, fp: str) -> str:
    """The folder name for an input: its own name unless another input's content owns it."""
    owner = _read_json(out_dir / name / INPUT_FILE).get("fingerprint")
    if owner is None:
        owner = _read_json(out_dir / name / "summary.json").get("fingerprint")
    return name if owner in (None, fp) else f"{name}-{fp[:8]}"


def claim(out_dir: Path, folder: str, fp: str, shown: str) -> None:
    """Record which input (fingerprint, redacted path) a folder's outputs belong to."""
    data = json.dumps({"fingerprint": fp, "input": shown}).encode()
    write_bytes_atomic(out_dir / folder / INPUT_FILE, data)


def is_finished(out_dir: Path, name: str, fp: str | None = None) -> bool:
    """Whether ``DIR/name/summary.json`` says done, for this content when ``fp`` is given."""
    summary = _read_json(out_dir / name / "summary.json")
    if summary.get("status") != "done":
        return False
    return fp is None or summary.get("fingerprint") == fp


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def own_run(store: Store, run_id: str) -> None:
    """Record this process (pid, host) as the owner of ``run_id``."""
    with store.transaction() as cur:
        cur.execute(
            "UPDATE runs SET pid=?, host=? WHERE id=?", (os.getpid(), socket.gethostname(), run_id)
        )


def recover_stale_runs(store: Store) -> list[str]:
    """Mark ``running`` runs whose process is gone (on this host) ``interrupted``; their ids.

    Called while holding the output folder's lock, so a batch run without a recorded pid
    (written before pids were recorded) or with this very pid cannot still be running.
    """
    me, host = os.getpid(), socket.gethostname()
    rows = store.conn.execute(
        "SELECT id, kind, pid, host FROM runs WHERE status='running'"
    ).fetchall()
    stale = [
        r["id"]
        for r in rows
        if (r["pid"] is None and r["kind"] == "batch")
        or (r["host"] == host and r["pid"] == me and r["kind"] == "batch")
        or (r["host"] == host and r["pid"] not in (None, me) and not _alive(int(r["pid"])))
    ]
    with store.transaction() as cur:
        for run_id in stale:
            cur.execute("UPDATE runs SET status='interrupted' WHERE id=?", (run_id,))
            cur.execute(
                "UPDATE sources SET status='interrupted' WHERE run_id=? AND status='running'",
                (run_id,),
            )
    if stale:
        log.warning("marked %d run(s) whose process is gone as interrupted", len(stale))
    return stale


def forget_input(store: Store, camera_id: str, run_id: str) -> None:
    """Drop counts and unreviewed alerts an earlier run left for an input about to be redone.

    The redo writes them again, so they are replaced rather than added to; alerts a person
    reviewed are kept (the redo updates them in place: alert ids are deterministic).
    """
    has_reviews = store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alert_reviews'"
    ).fetchone()
    reviewed = " AND id NOT IN (SELECT alert_id FROM alert_reviews)" if has_reviews else ""
    with store.transaction() as cur:
        cur.execute(
            "DELETE FROM detection_counts WHERE camera_id=? AND run_id<>?", (camera_id, run_id)
        )
        cur.execute(
            f"DELETE FROM alerts WHERE camera_id=? AND review IS NULL{reviewed}", (camera_id,)
        )
