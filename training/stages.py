"""Resumable stages in a work folder: each finished stage's result, and the request they answer.

A re-run with the same work folder skips the stages already done. That is only right for the same
request: results imported from other footage or labels would be trained on silently. So the
inputs that decide the stages' results are recorded with the first stage, and a later run that
asks for something else is refused by name instead of resumed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class StaleWorkError(ValueError):
    """A work folder holds stages of a different request; the message names what changed."""


def read_stage(work: Path, stage: str) -> Any:
    """The saved result of a finished stage, or None."""
    p = work / "stages" / f"{stage}.json"
    return json.loads(p.read_text()) if p.is_file() else None


def write_stage(work: Path, stage: str, result: Any) -> Any:
    """Mark a stage finished with its result (atomic rename)."""
    d = work / "stages"
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{stage}.json.tmp"
    tmp.write_text(json.dumps(result, indent=2, default=str))
    tmp.replace(d / f"{stage}.json")
    return result


def check_request(work: Path, inputs: Mapping[str, Any]) -> None:
    """Record ``inputs`` for a new work folder; refuse one whose stages answer other inputs.

    Raises:
        StaleWorkError: ``work`` has finished stages made for different inputs (named).
    """
    now = json.loads(json.dumps(inputs, default=str))
    before = read_stage(work, "request")
    if before is None:
        write_stage(work, "request", now)
        return
    changed = sorted(k for k in now.keys() | before.keys() if now.get(k) != before.get(k))
    if changed:
        diff = "; ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise StaleWorkError(
            f"{work} holds the stages of another request ({diff}); pass a new --work folder, "
            "or delete this one to start over"
        )
