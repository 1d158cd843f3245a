"""``monitor purge``: delete one camera's media and store rows, recorded in the audit table."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def parse_before(text: str) -> float:
    """Epoch seconds of an ISO date or date-time (local time when no zone is given).

    Example:
        >>> parse_before("2026-01-02T00:00:00+00:00")
        1767312000.0
    """
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise typer.BadParameter(f"not an ISO date: {text!r} (e.g. 2026-11-20)") from None


def purge(
    camera: Annotated[str, typer.Option("--camera", help="Camera id whose footage is deleted.")],
    db: Annotated[Path, typer.Option("--db", help="Store file (monitor.db).")],
    before: Annotated[
        str | None, typer.Option("--before", help="Only what is older than this ISO date.")
    ] = None,
    media_root: Annotated[
        Path | None, typer.Option("--media-root", help="Media folder (default: the store's).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a camera's snapshots, clips, videos and rows (all, or those before a date)."""
    from monitor.purge import purge_camera

    if not db.is_file():
        console.print(f"[red]store not found: {db}")
        raise typer.Exit(2)
    cutoff = parse_before(before) if before else None
    scope = f"before {before}" if before else "all of it"
    if not yes and not typer.confirm(f"Delete camera {camera!r} footage and rows ({scope})?"):
        raise typer.Exit(1)
    report = purge_camera(db, camera, cutoff, media_root)
    console.print(
        f"purged {camera}: {report.alerts} alerts, {report.rows} rows, {report.files} files, "
        f"{report.freed_bytes / 1e6:.1f} MB (recorded in the audit table)"
    )


def register(app: typer.Typer) -> None:
    """Add ``purge`` to the ``monitor`` app."""
    app.command("purge")(purge)
