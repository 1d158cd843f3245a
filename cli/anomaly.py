"""``monitor train-anomaly`` and ``monitor eval-anomaly``.

Heavy imports (OpenCV, scikit-learn, matplotlib) stay inside the command functions so
``monitor --help`` is fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
ModelsDir = Annotated[
    Path | None, typer.Option("--models-dir", help="Registry folder (default: models/).")
]


def _single_thread() -> None:
    """One thread for OpenCV and torch: the scoring speed reported is per core."""
    import cv2

    cv2.setNumThreads(1)


def train_anomaly(
    camera: Annotated[str, typer.Option(help="Camera id the model is for.")],
    footage: Annotated[
        list[Path], typer.Option(help="Normal footage: frame folder(s), clip folders or videos.")
    ],
    out: Annotated[Path | None, typer.Option(help="Model file (.npz).")] = None,
    version: Annotated[str | None, typer.Option(help="Registry version id.")] = None,
    fps: Annotated[
        float | None, typer.Option(help="Frame rate of the footage (default: its own).")
    ] = None,
    target_alerts_per_hour: Annotated[
        float, typer.Option(help="False alerts per hour allowed on the normal footage.")
    ] = 1.0,
    cooldown_s: Annotated[float, typer.Option(help="Cooldown between alerts (s).")] = 10.0,
    sigma: Annotated[float, typer.Option(help="Temporal smoothing width (frames).")] = 5.0,
    register: Annotated[bool, typer.Option(help="Register (and promote) the model.")] = True,
    models_dir: ModelsDir = None,
) -> None:
    """Learn a camera's normal motion from normal-only footage; save, calibrate and register it."""
    from monitor.registry import DEFAULT_MODELS_DIR
    from training.anomaly_footage import FootageError, train_anomaly

    _single_thread()
    root = models_dir or DEFAULT_MODELS_DIR
    version = version or f"{camera}-anomaly-v1"
    path = out or root / f"{version}.npz"
    try:
        model, path = train_anomaly(
            camera, footage, path, fps=fps, target_per_hour=target_alerts_per_hour,
            cooldown_s=cooldown_s, sigma=sigma, version=version,
            registry_root=root if register else None,
        )  # fmt: skip
    except FootageError as err:
        console.print(f"[red]error:[/red] --footage: {err}", soft_wrap=True, highlight=False)
        raise typer.Exit(2) from None
    console.print(f"anomaly model {version} -> {path} (threshold {model.threshold:.3f})")


def eval_anomaly(
    data: Annotated[Path, typer.Option(help="UCSD Ped2 folder (training/, testing/, labels).")],
    json_out: Annotated[Path, typer.Option("--json", help="Write results JSON here.")],
    model: Annotated[
        str | None,
        typer.Option(help="Model .npz or registry version; default: train on Ped2 Train now."),
    ] = None,
    roc: Annotated[Path | None, typer.Option(help="ROC PNG (default: beside the JSON).")] = None,
    supervised: Annotated[bool, typer.Option(help="Also run the supervised halves.")] = True,
    test_clips: Annotated[
        str | None, typer.Option(help="Comma-separated 1-based test clips (default: all).")
    ] = None,
    models_dir: ModelsDir = None,
) -> None:
    """Frame-level ROC AUC (pooled over test clips), scoring fps and baseline on UCSD Ped2."""
    from monitor.anomaly import load_model
    from training.anomaly_eval import evaluate_ped2, load_ped2
    from training.anomaly_fit import fit_normal

    _single_thread()
    clips = [int(c) for c in test_clips.split(",")] if test_clips else None
    ped2 = load_ped2(data, test_clips=clips)
    train_feats = None
    if model is None:
        m, train_feats = fit_normal([c.frames for c in ped2.train], fps=10.0,
                                    meta={"version": "ped2-eval"})  # fmt: skip
    else:
        m = load_model(model, models_dir)
    roc_png = roc or json_out.with_suffix(".roc.png")
    result = evaluate_ped2(ped2, m, supervised=supervised, roc_png=roc_png, train_feats=train_feats)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2) + "\n")
    if model is not None and not model.endswith(".npz") and not test_clips:
        _record_metrics(model, result, models_dir)
    console.print(
        f"AUC {result['auc']:.4f} (causal {result['auc_causal']:.4f}), "
        f"{result['fps']:.1f} fps, frame-difference baseline "
        f"{result['baseline_frame_difference']['auc']:.4f} -> {json_out}"
    )


def _record_metrics(ref: str, result: dict, models_dir: Path | None) -> None:
    """Store the headline Ped2 figures in the registry entry of the evaluated version."""
    from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry

    reg = ModelRegistry(models_dir or DEFAULT_MODELS_DIR)
    mv = reg.promoted("anomaly") if ref == "promoted" else reg.get(ref)
    if mv is None:
        return
    metrics = {f"ped2_{k}": result[k] for k in ("auc", "auc_causal", "auc_per_clip_mean")}
    metrics["fps_1thread"] = round(result["fps"], 1)
    if "supervised" in result:
        metrics["ped2_supervised_halves_auc"] = result["supervised"]["mean_auc"]
    reg.update_metrics(mv.version, metrics)


def register(app: typer.Typer) -> None:
    """Add the anomaly commands to the ``monitor`` app."""
    app.command("train-anomaly")(train_anomaly)
    app.command("eval-anomaly")(eval_anomaly)
