"""``monitor dashboard``: serve the Streamlit dashboard on 127.0.0.1 for one store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer


def streamlit_command(
    db: Path, port: int, address: str = "127.0.0.1", models: Path | None = None
) -> list[str]:
    """The streamlit command line: headless, local, XSRF on, no telemetry, no deploy menu."""
    import dashboard

    app = Path(dashboard.__file__).resolve().parent / "app.py"
    extra = ["--models", str(models.resolve())] if models else []
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", address, "--server.port", str(port),
        "--server.headless", "true", "--server.enableXsrfProtection", "true",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
        "--client.showErrorDetails", "none",
        "--", "--db", str(db.resolve()), *extra,
    ]  # fmt: skip


def dashboard(
    db: Annotated[Path, typer.Option("--db", help="Store file (monitor.db).")] = Path(
        "out/monitor.db"
    ),
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1.")] = 8501,
    address: Annotated[
        str, typer.Option("--address", help="Bind address (default local only).")
    ] = "127.0.0.1",
    models: Annotated[
        Path | None, typer.Option("--models", help="Model registry folder (default models/).")
    ] = None,
) -> None:
    """Serve the operators' dashboard for a store until Ctrl-C (create users with `monitor users`)."""
    from monitor.store import Store, StoreError

    if not db.is_file():
        typer.echo(f"error: no store at {db} (run `monitor batch` first)", err=True)
        raise typer.Exit(2)
    try:
        Store(db).close()  # apply pending migrations (backup first) before the app reads it
    except StoreError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"dashboard: http://{address}:{port}  (Ctrl-C to stop)")
    child = subprocess.Popen(streamlit_command(db, port, address, models))
    try:
        code = child.wait()
    except KeyboardInterrupt:
        child.terminate()
        code = child.wait(timeout=10)
    if code not in (0, -15):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the dashboard command to the CLI."""
    app.command("dashboard")(dashboard)
