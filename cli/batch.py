"""``monitor batch``: process video files and frame folders, with progress bars."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_OUT = Path("out")


def batch(
    inputs: Annotated[
        list[Path], typer.Argument(help="Video files, folders of videos, frame folders.")
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
    force: Annotated[bool, typer.Option("--force", help="Re-process finished inputs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """Process videos and frame folders: detect, track, apply rules, record alerts.

    Writes OUT/<name>/annotated.mp4, detections.jsonl and summary.json per input, and alerts
    (with snapshot and clip) into the SQLite store, OUT/monitor.db by default.
    """
    from rich.console import Console
    from rich.logging import RichHandler

    console = Console(stderr=True)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        handlers=[RichHandler(console=console, show_path=False)],
        format="%(message)s",
    )
    from monitor.config import ConfigError, load_config
    from monitor.registry import ModelNotFoundError
    from monitor.sources import SourceError, discover_inputs

    try:
        cfg = load_config(config)
        if weights is not None:
            cfg = cfg.model_copy(
                update={"model": cfg.model.model_copy(update={"weights": weights})}
            )
        specs = discover_inputs([str(p) for p in inputs])
    except (ConfigError, SourceError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    try:
        outcomes = _run(cfg, specs, out, force, fps, console)
    except (ModelNotFoundError, ConfigError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from None
    failed = [o for o in outcomes if o.status == "failed"]
    done = sum(o.status == "done" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    console.print(
        f"{done} processed, {skipped} skipped (already done), {len(failed)} failed -> {out}"
    )
    for o in failed:
        console.print(f"[red]failed[/red] {o.path}: {o.error}")
    if failed:
        raise typer.Exit(1)


def _run(cfg, specs, out, force, fps, console):  # type: ignore[no-untyped-def]
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )

    from monitor.pipeline import Pipeline
    from pipelines.batch import run_batch

    pipeline = Pipeline.from_config(cfg)
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console) as bar:
        overall = bar.add_task("all inputs", total=len(specs))
        tasks: dict[str, TaskID] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=max(total, done))

        def finished(outcome) -> None:  # type: ignore[no-untyped-def]
            bar.advance(overall)
            if outcome.name in tasks:
                bar.update(tasks[outcome.name], visible=False)

        return run_batch(cfg, specs, out, pipeline, force, fps, progress, finished)


def register(app: typer.Typer) -> None:
    """Add the batch command to the CLI."""
    app.command("batch")(batch)
