"""``monitor demo``: the batch pipeline on the packaged sample clip, optionally with the dashboard.

Needs nothing but the installed package and the promoted detector: the clip
(``monitor/assets/sample.mp4``, CC BY 4.0, see ``SAMPLE_CREDIT.md``) and a config whose rules fire
on it (``monitor/assets/demo.yaml``) ship inside the package.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections import Counter
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

DEFAULT_OUT = Path("out") / "demo"
SAMPLE = "sample.mp4"
CONFIG = "demo.yaml"
PASSWORD_ENV = "MONITOR_DASHBOARD_PASSWORD"  # what dashboard/app.py reads
PASSWORD_HASH_ENV = "MONITOR_DASHBOARD_PASSWORD_SHA256"  # would override ours: dropped

console = Console(soft_wrap=True)  # paths stay whole, one per line


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = DEFAULT_OUT,
    dashboard: Annotated[
        bool, typer.Option("--dashboard", help="Then serve the dashboard on 127.0.0.1.")
    ] = False,
    port: Annotated[int, typer.Option("--port", help="Dashboard port.")] = 8501,
    force: Annotated[
        bool, typer.Option("--force", help="Re-process even if OUT holds a finished demo run.")
    ] = False,
) -> None:
    """Run detection, tracking and rules on a bundled 24 s clip and show what they produced.

    Writes OUT/sample/ (annotated.mp4, detections.jsonl, alert snapshots and clips) and the alert
    store OUT/monitor.db; a finished run there is reused unless --force. With --dashboard, serves
    the results with a one-time password until Ctrl-C.
    """
    with ExitStack() as stack:
        assets = resources.files("monitor.assets")
        sample = stack.enter_context(resources.as_file(assets / SAMPLE))
        config = stack.enter_context(resources.as_file(assets / CONFIG))
        summary, store = _run(sample, config, out, force)
    _report(summary, out, store)
    if dashboard:
        serve_dashboard(store, port)


def _run(sample: Path, config: Path, out: Path, force: bool) -> tuple[dict[str, Any], Path]:
    """The batch path of ``monitor batch`` on the sample; returns its summary and the store path."""
    from monitor.tracking import preload_trackers

    preload_trackers()  # torch, for the tracker, loads while the detector does
    from monitor.config import ConfigError, load_config
    from monitor.pipeline import Pipeline
    from monitor.registry import ModelNotFoundError
    from monitor.sources import discover_inputs
    from pipelines.batch import run_batch

    try:
        cfg = load_config(config)
        specs = discover_inputs([sample])
        pipeline = Pipeline.from_config(cfg)
    except (ConfigError, ModelNotFoundError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    console.print(f"Processing the bundled sample clip {sample.name} -> {out}")
    with console.status("detect, track, rules..."):
        [outcome] = run_batch(cfg, specs, out, pipeline, force=force)
    store = Path(cfg.store.path) if cfg.store.path else out / "monitor.db"
    if outcome.status == "skipped":
        console.print("(finished earlier: results reused; --force re-processes)")
        return json.loads((out / outcome.name / "summary.json").read_text()), store
    if outcome.status != "done":
        console.print(f"[red]demo failed:[/red] {outcome.error}")
        raise typer.Exit(1)
    return outcome.summary, store


def _report(summary: dict[str, Any], out: Path, store: Path) -> None:
    """Print alerts per rule and where every output went."""
    alerts = summary.get("alerts", [])
    by_rule = Counter(f"{a['rule']} ({a['kind']})" for a in alerts)
    folder = out / summary["name"]
    console.print(
        f"{summary['frames']} frames processed in {summary['seconds']} s "
        f"({summary['fps_achieved']} fps), {len(alerts)} alerts:"
    )
    for rule, n in sorted(by_rule.items()):
        console.print(f"  {rule}: {n}")
    for a in alerts:
        console.print(f"  - {a['rule']} at {a['start_time']:.1f} s, tracks {a['track_ids']}")
        for key in ("snapshot", "clip"):
            if a.get(key):
                console.print(f"      {key}: {out / a[key]}")
    console.print(f"annotated video: {folder / 'annotated.mp4'}")
    console.print(f"detections:      {folder / 'detections.jsonl'}")
    console.print(f"alert store:     {store}")


def dashboard_command(store: Path, port: int) -> list[str]:
    """The streamlit command serving the dashboard on ``store``, local-only and without telemetry."""
    import dashboard

    app = Path(dashboard.__file__).resolve().parent / "app.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--", "--db", str(store.resolve()),
    ]  # fmt: skip


def serve_dashboard(store: Path, port: int) -> None:
    """Serve the dashboard with a password made for this run; Ctrl-C (or SIGTERM) stops it."""
    password = secrets.token_urlsafe(16)
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_HASH_ENV}
    env[PASSWORD_ENV] = password
    previous = signal.signal(signal.SIGTERM, _interrupt)  # stop the child, never orphan it
    child = subprocess.Popen(dashboard_command(store, port), env=env)
    try:
        console.print(f"dashboard: http://127.0.0.1:{port}  (Ctrl-C to stop)")
        print(f"password:  {password}", flush=True)  # shown once, plain: scripts read it
        code = child.wait()
    except KeyboardInterrupt:
        _stop(child)
        console.print("dashboard stopped")
        return
    finally:
        if child.poll() is None:
            _stop(child)
        signal.signal(signal.SIGTERM, previous)
    if code != 0:
        console.print(f"[red]dashboard exited with code {code}[/red]")
        raise typer.Exit(1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(child: subprocess.Popen[bytes]) -> int:
    """Terminate the dashboard, killing it if it has not exited within 10 s."""
    child.terminate()
    try:
        return child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


def register(app: typer.Typer) -> None:
    """Add the demo command to the CLI."""
    app.command("demo")(demo)
