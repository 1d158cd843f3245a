"""``monitor batch``: process video files and frame folders, with progress bars."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from monitor.config import MonitorConfig
    from monitor.sources import InputProblem, InputSpec
    from pipelines.batch import InputOutcome

DEFAULT_OUT = Path("out")
WIDTH = 80  # what a terminal is assumed to have at least: output never needs more
EXIT_INTERRUPTED = 130


def batch(
    inputs: Annotated[
        list[str], typer.Argument(help="Video files, folders of videos, frame folders.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = DEFAULT_OUT,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config.")] = None,
    weights: Annotated[
        str | None, typer.Option("--weights", "-w", help="Detector weights (default: promoted).")
    ] = None,
    fps: Annotated[
        float | None,
        typer.Option(help="Frame rate of image sequences (default: seqinfo.ini or 25)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Re-process finished inputs.", metavar="")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Debug logging.", metavar="")
    ] = False,
) -> None:
    """Process videos and frame folders: detect, track, apply rules, record alerts.

    Writes OUT/<name>/annotated.mp4, detections.jsonl and summary.json per input, and alerts
    (with snapshot and clip) into the SQLite store, OUT/monitor.db by default. Exit code 1 if
    an input failed, 2 for a bad config or model, 130 when interrupted.
    """
    from rich.console import Console
    from rich.logging import RichHandler

    console = Console(stderr=True, width=min(Console(stderr=True).width, WIDTH))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
        format="%(message)s",
    )
    from monitor.tracking import preload_trackers

    preload_trackers()  # torch, for the tracker, loads while the config and the inputs do
    from monitor.config import ConfigError, load_config
    from monitor.lock import FolderError, LockHeldError
    from monitor.registry import ModelNotFoundError
    from monitor.sources import discover_each

    if fps is not None and not 0 < fps <= 1000:  # also refuses nan and inf
        _fail(console, f"--fps must be a frame rate in (0, 1000], got {fps}", 2)
    try:
        cfg = load_config(config)
        if weights is not None:
            cfg = cfg.model_copy(
                update={"model": cfg.model.model_copy(update={"weights": weights})}
            )
    except ConfigError as err:
        _fail(console, str(err), 2)
    specs = discover_each(inputs)  # never Path(): a URI keeps its '//' and is redacted
    try:
        outcomes = _run(cfg, specs, out, force, fps, console)
    except (ModelNotFoundError, ConfigError) as err:
        _fail(console, str(err), 2)
    except (LockHeldError, FolderError) as err:
        _fail(console, str(err), 1)
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted:[/yellow] the run is recorded as interrupted; finished inputs "
            "are kept, run the same command again to finish the rest"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _report(console, outcomes, out)


def _fail(console: Console, message: str, code: int) -> NoReturn:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code) from None


def _alerts_line(summary: dict[str, Any]) -> str:
    alerts = summary.get("alerts", [])
    if not alerts:
        return "0 alerts"
    rules = Counter(a["rule"] for a in alerts)
    return f"{len(alerts)} alert(s): " + ", ".join(f"{r} {n}" for r, n in sorted(rules.items()))


def _report(console: Console, outcomes: list[InputOutcome], out: Path) -> None:
    """One line per input (alerts raised, warnings, errors), then the totals; exit 1 on failure."""
    for o in outcomes:
        if o.status == "done":
            console.print(f"[green]done[/green] {o.name}: {_alerts_line(o.summary)}")
            for warning in o.summary.get("warnings", []):
                console.print(f"  [yellow]warning:[/yellow] {warning}")
        elif o.status == "skipped":
            console.print(f"skipped {o.name} (already done; --force redoes it)")
        else:
            console.print(f"[red]failed[/red] {o.path}: {o.error}")
    failed = sum(o.status == "failed" for o in outcomes)
    done = sum(o.status == "done" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    alerts = sum(len(o.summary.get("alerts", [])) for o in outcomes)
    console.print(
        f"{done} processed, {skipped} skipped (already done), {failed} failed, "
        f"{alerts} alerts -> {out}"
    )
    if failed:
        raise typer.Exit(1)


def _run(
    cfg: MonitorConfig, specs: list[InputSpec | InputProblem], out: Path, force: bool,
    fps: float | None, console: Console,
) -> list[InputOutcome]:  # fmt: skip
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )

    from monitor.detectors import describe
    from monitor.pipeline import Pipeline
    from pipelines.batch import run_batch

    pipeline = Pipeline.from_config(cfg)
    console.print(f"detector: {describe(pipeline.detector)}")
    columns = (
        TextColumn("{task.description}", table_column=None), BarColumn(bar_width=24),
        MofNCompleteColumn(), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bar:
        overall = bar.add_task("all inputs", total=len(specs))
        tasks: dict[str, TaskID] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name[:28], total=total)
            bar.update(tasks[name], completed=done, total=max(total, done))

        def finished(outcome: InputOutcome) -> None:
            bar.advance(overall)
            if outcome.name in tasks:
                bar.update(tasks[outcome.name], visible=False)

        return run_batch(cfg, specs, out, pipeline, force, fps, progress, finished)


def register(app: typer.Typer) -> None:
    """Add the batch command to the CLI."""
    app.command("batch")(batch)
