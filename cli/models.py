"""``monitor models list|register|merge|resize|promote|rollback``: the model registry.

Heavy imports (ultralytics, torch) stay inside the command functions so ``monitor --help`` is fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.train import ModelsDir, _registry, console


def models_list(kind: Annotated[str | None, typer.Option(help="detector | anomaly")] = None,
                models_dir: ModelsDir = None) -> None:  # fmt: skip
    """List registered model versions."""
    reg = _registry(models_dir)
    promoted = {k: getattr(reg.promoted(k), "version", None) for k in ("detector", "anomaly")}
    table = Table(title=f"{reg.file} (* = promoted; mAP on the held-out split)")
    table.add_column("", width=1)
    table.add_column("version", no_wrap=True)
    for col in ("kind", "parent", "mAP50", "mAP50-95", "exports"):
        table.add_column(col)
    for mv in reg.list(kind):
        table.add_row(
            "*" if promoted.get(mv.kind) == mv.version else "", mv.version, mv.kind,
            mv.merged_from() or mv.parent or "", str(mv.metrics.get("map50", "")),
            str(mv.metrics.get("map50_95", "")), ", ".join(mv.variants),
        )  # fmt: skip
    console.print(table)


def models_register(
    version: Annotated[str, typer.Argument(help="New version id, e.g. pets09-person-v2.")],
    run: Annotated[Path, typer.Option(help="Finished ultralytics run folder.")],
    data: Annotated[Path, typer.Option(help="data.yaml it was trained on (fingerprint).")],
    eval_json: Annotated[
        Path | None, typer.Option(help="`monitor eval --json` output (held-out metrics).")
    ] = None,
    parent: Annotated[str | None, typer.Option(help="Version it was fine-tuned from.")] = None,
    promote: Annotated[bool, typer.Option(help="Promote it.")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Copy a run's best.pt into the registry and register it with lineage and metrics."""
    from training.trainer import result_from_run
    from training.workflows import copy_and_register, metrics_from_eval

    result = result_from_run(run)
    metrics = {"val": result.metrics}
    if eval_json:
        metrics.update(metrics_from_eval(eval_json))
    reg = _registry(models_dir)
    mv = copy_and_register(reg, version, result, data, parent, promote, metrics)
    console.print(
        f"registered {mv.version} -> {reg.resolve_path(mv)}{' (promoted)' if promote else ''}"
    )


def models_merge(
    version: Annotated[str, typer.Argument(help="New version id, e.g. coco6-student-v8.")],
    base: Annotated[str, typer.Option(help="Registered version: the parent, weight 1 - alpha.")],
    other: Annotated[str, typer.Option(help="Registered version of the same architecture.")],
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="Weight of --other.")] = 0.5,
    promote: Annotated[bool, typer.Option(help="Promote it.")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Register the weight interpolation (1 - alpha) * base + alpha * other (WiSE-FT): a model
    fine-tuned for robustness blended back toward its ancestor. Choose alpha on validation data
    (benchmarks/merge_select.py), never on the held-out split."""
    from monitor.registry import UnknownVersionError
    from training.merge import MergeError, register_merge

    reg = _registry(models_dir)
    try:
        mv = register_merge(reg, version, base, other, alpha, promote=promote)
    except (MergeError, UnknownVersionError) as err:
        raise typer.BadParameter(str(err)) from None
    console.print(f"registered {mv.version} = (1 - {alpha}) * {base} + {alpha} * {other} "
                  f"-> {reg.resolve_path(mv)}{' (promoted)' if promote else ''}")  # fmt: skip


def models_resize(
    version: Annotated[str, typer.Argument(help="New version id, e.g. coco6-student-v13.")],
    base: Annotated[str, typer.Option(help="Registered detector whose weights it takes.")],
    imgsz: Annotated[int, typer.Option(help="Its deployed input size (multiple of 32).")],
    promote: Annotated[bool, typer.Option(help="Promote it.")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Register a detector's weights under a new version that runs at another input size (what
    `model.imgsz: null` and `monitor export` then use). Measure it before promoting."""
    from monitor.registry import UnknownVersionError
    from training.resize import ResizeError, register_resized

    reg = _registry(models_dir)
    try:
        mv = register_resized(reg, version, base, imgsz, promote=promote)
    except (ResizeError, UnknownVersionError) as err:
        raise typer.BadParameter(str(err)) from None
    console.print(f"registered {mv.version} = {base} at imgsz {imgsz} "
                  f"-> {reg.resolve_path(mv)}{' (promoted)' if promote else ''}")  # fmt: skip


def models_promote(version: str, models_dir: ModelsDir = None) -> None:
    """Promote a version: pipelines load it by default."""
    _registry(models_dir).promote(version)
    console.print(f"promoted {version}")


def models_rollback(kind: str = "detector", models_dir: ModelsDir = None) -> None:
    """Promote again the previously promoted version of a kind."""
    try:
        mv = _registry(models_dir).rollback(kind)
    except ValueError as err:  # nothing earlier to return to
        raise typer.BadParameter(str(err), param_hint="--kind") from None
    console.print(f"rolled back {kind} to {mv.version}")


def register(app: typer.Typer) -> None:
    """Add the ``models`` group to the CLI."""
    models = typer.Typer(
        help="Model registry: list, register, merge, resize, promote, roll back.",
        no_args_is_help=True,
    )
    models.command("list")(models_list)
    models.command("register")(models_register)
    models.command("merge")(models_merge)
    models.command("resize")(models_resize)
    models.command("promote")(models_promote)
    models.command("rollback")(models_rollback)
    app.add_typer(models, name="models")
