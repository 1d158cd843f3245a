"""``monitor live``: watch the config's cameras until Ctrl-C / SIGTERM or ``--duration``.

The terminal shows one live-updating line per camera (rich ``Live`` table), not a log stream;
warnings (a camera going offline) still print above it. SIGHUP re-reads the config file's cameras
(the file is also polled for changes). Shutdown is clean on every path: clips finished, cameras
marked offline, the store closed; the exit code is 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from pipelines.service import CameraStatus

DEFAULT_OUT = Path("out") / "live"


def render(rows: list[CameraStatus], elapsed: float) -> Table:
    """The per-camera table: state, fps in/out, drops, reconnects, latency, last alert."""
    from rich.table import Table

    table = Table(title=f"monitor live - {elapsed:.0f} s (Ctrl-C stops)", expand=False)
    for name in (
        "camera",
        "state",
        "fps in",
        "fps out",
        "drops",
        "reconn.",
        "p50/p95 ms",
        "last alert",
    ):
        table.add_column(name)
    colours = {"online": "green", "learning": "cyan", "offline": "red", "stalled": "red"}
    for row in rows:
        s = row.sample
        if s is None:
            table.add_row(row.camera_id, "starting", "", "", "", "", "", row.last_alert or "")
            continue
        lat = "-" if s.latency_p50_ms is None else f"{s.latency_p50_ms:.0f}/{s.latency_p95_ms:.0f}"
        state = f"[{colours.get(s.state, 'yellow')}]{s.state}[/]"
        table.add_row(
            row.camera_id, state, f"{s.fps_in:.1f}", f"{s.fps_out:.1f}", str(s.dropped),
            str(s.reconnects), lat, row.last_alert or "",
        )  # fmt: skip
    return table


def _signals(stop: threading.Event, reload: Callable[[], None]) -> None:
    def on_stop(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGTERM, on_stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: reload())


def live(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML config with cameras.")],
    duration: Annotated[
        float | None, typer.Option("--duration", "-d", help="Stop after S seconds.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Media root and store.")] = DEFAULT_OUT,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Info logging.")] = False,
) -> None:
    """Watch every enabled camera of the config: alerts, health, live frames, metrics.

    Alerts (snapshot + clip), camera health rows and run state go to the store (OUT/monitor.db
    unless store.path says otherwise); the newest frame of each camera to OUT/live/.
    """
    from rich.console import Console
    from rich.live import Live
    from rich.logging import RichHandler

    console = Console(stderr=True)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        handlers=[RichHandler(console=console, show_path=False)],
        format="%(message)s",
    )
    from monitor.config import ConfigError, load_config
    from monitor.registry import ModelNotFoundError
    from pipelines.service import LiveService

    try:
        cfg = load_config(config)
        service = LiveService(cfg, out, config_path=config)
    except (ConfigError, ModelNotFoundError, OSError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    if not any(c.enabled for c in cfg.cameras):
        console.print("[yellow]no enabled cameras in the config; waiting for some to be added[/]")
    stop = threading.Event()
    _signals(stop, service.request_reload)
    started = time.monotonic()
    service.start()
    try:
        with Live(render([], 0), console=console, refresh_per_second=2) as view:
            while not stop.wait(0.25):
                elapsed = time.monotonic() - started
                if duration is not None and elapsed >= duration:
                    break
                service.poll()
                view.update(render(service.status(), elapsed))
            view.update(render(service.status(), time.monotonic() - started))
    finally:
        summary = service.shutdown()
    if not console.is_terminal:
        console.line()  # a redirected Live leaves its last table without a newline
    port = f", metrics on 127.0.0.1:{cfg.live.metrics_port}" if cfg.live.metrics_port else ""
    console.print(
        f"stopped after {time.monotonic() - started:.0f} s: {sum(summary['processed'].values())} "
        f"frames processed in {summary['forwards']} batched forwards -> {out}{port}"
    )


def register(app: typer.Typer) -> None:
    """Add the live command to the CLI."""
    app.command("live")(live)
