"""``monitor import-data|train|eval|label|export`` (the registry's commands are in cli.models).

Heavy imports (ultralytics, torch) stay inside the command functions so ``monitor --help`` is fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
ModelsDir = Annotated[
    Path | None, typer.Option("--models-dir", help="Registry folder (default: models/).")
]
Device = Annotated[str, typer.Option(help="auto (the first CUDA GPU, else cpu), cpu, 0, 1 ...")]


def _registry(models_dir: Path | None) -> Any:
    from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry

    return ModelRegistry(models_dir or DEFAULT_MODELS_DIR)


def _model_path(ref: str, models_dir: Path | None) -> str:
    """A model yaml (architecture, built untrained), or weights found by the one resolver:
    a path, a file in models/, a registry version, ``promoted``."""
    from monitor.registry import DEFAULT_MODELS_DIR, ModelNotFoundError, resolve_model

    if ref.endswith(".yaml") and not Path(ref).exists():
        return ref
    try:
        return str(resolve_model(ref, "detector", models_dir or DEFAULT_MODELS_DIR))
    except ModelNotFoundError as err:
        raise typer.BadParameter(str(err)) from None


def _own_imgsz(weights: str, fallback: int = 640) -> int:
    """The image size a model was trained at (its checkpoint's ``imgsz``), else ``fallback``.

    Evaluating or labelling at another size than training measures a different detector.
    """
    from monitor.detectors.ultralytics import trained_imgsz
    from monitor.runtime import configure_offline

    configure_offline()
    from ultralytics import YOLO

    try:
        return trained_imgsz(YOLO(weights), fallback)
    except Exception:  # noqa: BLE001 - a bad file fails clearly later, at its real use
        return fallback


def import_data(
    source: Annotated[Path, typer.Argument(help="MOT sequence folder, image folder or video.")],
    out: Annotated[
        Path, typer.Option(help="Dataset folder to write (holds copies of the frames).")
    ],
    fmt: Annotated[str, typer.Option("--format", help="mot | yolo | coco")] = "mot",
    labels: Annotated[
        Path | None, typer.Option(help="MOT txt / COCO json / YOLO labels dir.")
    ] = None,
    min_score: Annotated[float | None, typer.Option(help="Score threshold (det.txt).")] = None,
    stride: Annotated[int, typer.Option(min=1, help="Keep every Nth frame.")] = 1,
    val: Annotated[float, typer.Option(help="Validation fraction per video.")] = 0.15,
    test: Annotated[float, typer.Option(help="Test fraction per video.")] = 0.15,
    block: Annotated[int | None, typer.Option(min=1, help="Time-block length (frames).")] = None,
    gap: Annotated[int, typer.Option(min=0, help="Frames dropped between splits.")] = 10,
    reference_plan: Annotated[
        bool, typer.Option(help="MOT: gt 1-30/31-40/41-60 + det.txt teacher frames 71+.")
    ] = False,
    names: Annotated[
        str, typer.Option(help="YOLO: class names in id order, comma-separated.")
    ] = "person",
) -> None:
    """Import labelled footage into a YOLO dataset with time-block splits and data.yaml."""
    from training import datasets as ds
    from training.workflows import build_mot_dataset

    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise typer.BadParameter(f"--val {val} and --test {test}: each in [0, 1), sum below 1")
    if reference_plan:
        yaml_path = build_mot_dataset(source, out)
    else:
        classes = dict(enumerate(n.strip() for n in names.split(",")))
        if not all(classes.values()):
            raise typer.BadParameter(f"an empty class name in {names!r}", param_hint="--names")
        if fmt == "mot":
            frames = ds.frames_from_mot(source, labels, min_score=min_score)
        elif fmt == "yolo":
            frames = ds.frames_from_yolo(source, labels, nc=len(classes))
        elif fmt == "coco":
            if labels is None:
                raise typer.BadParameter("--labels must name the COCO json")
            frames, classes = ds.frames_from_coco(labels, source)
        else:
            raise typer.BadParameter(f"unknown format {fmt!r} (mot, yolo, coco)")
        splits = ds.time_block_split(ds.sample(frames, stride), val, test, block, gap)
        yaml_path = ds.write_dataset(out, splits, classes)
    manifest = ds.read_manifest(yaml_path)
    console.print(f"wrote {yaml_path}  fingerprint {manifest['fingerprint']}")
    console.print(manifest["counts"])


def _overrides(pairs: list[str]) -> dict[str, Any]:
    """``["lr0=0.01", "mosaic=0"]`` -> ``{"lr0": 0.01, "mosaic": 0}`` (values parsed as YAML)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def train(
    data: Annotated[Path, typer.Option(help="data.yaml from import-data.")],
    base: Annotated[str, typer.Option(help="Checkpoint, model yaml, or registry version.")] = (
        "yolov8n.yaml"
    ),
    epochs: Annotated[int, typer.Option(help="Maximum epochs.")] = 50,
    imgsz: Annotated[int, typer.Option(help="Training image size.")] = 640,
    batch: Annotated[int, typer.Option(help="Batch size.")] = 16,
    hours: Annotated[float | None, typer.Option(help="Wall-clock cap in hours.")] = None,
    patience: Annotated[int, typer.Option(help="Early-stopping patience (epochs).")] = 10,
    workers: Annotated[
        int | None, typer.Option(help="Dataloader workers (default: 1 on CPU, up to 8 on a GPU).")
    ] = None,
    device: Device = "auto",
    project: Annotated[Path, typer.Option(help="Runs folder.")] = Path("runs/train"),
    name: Annotated[str, typer.Option(help="Run name.")] = "exp",
    resume: Annotated[bool, typer.Option(help="Resume: --base is the run's last.pt.")] = False,
    camera_aug: Annotated[
        bool, typer.Option(help="Night, IR, blur and JPEG augmentation (training/camera_augment).")
    ] = True,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Other ultralytics train argument, KEY=VALUE (repeatable)."),
    ] = None,
    register: Annotated[str | None, typer.Option(help="Register best.pt as this version.")] = None,
    promote: Annotated[bool, typer.Option(help="Promote the registered version.")] = False,
    models_dir: ModelsDir = None,
) -> None:
    """Fine-tune (or train from a yaml) a YOLO detector with ultralytics' trainer."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from training.trainer import train as run_train

    base_path = _model_path(base, models_dir)
    with Progress(
        TextColumn("epoch {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("", total=epochs)

        def on_epoch(epoch: int, planned: int, m: dict[str, float]) -> None:
            m50, m95 = m.get("metrics/mAP50(B)", 0), m.get("metrics/mAP50-95(B)", 0)
            desc = f"val mAP50 {m50:.3f}  mAP50-95 {m95:.3f}"
            progress.update(task, completed=epoch, total=planned, description=desc)

        result = run_train(
            data, base_path, epochs, imgsz, batch, project, name, hours, patience, workers,
            device=device, resume=resume, on_epoch=on_epoch, camera_aug=camera_aug,
            **_overrides(set_ or []),
        )  # fmt: skip
    console.print(f"best weights: {result.best}  ({result.epochs} epochs, {result.seconds:.0f} s)")
    if register:
        from training.workflows import copy_and_register

        parent = base if not base.endswith((".pt", ".yaml")) else None
        mv = copy_and_register(_registry(models_dir), register, result, data, parent, promote)
        console.print(f"registered {mv.version}{' (promoted)' if promote else ''}")


def _table(deployed: dict[str, Any], val: dict[str, Any]) -> Table:
    table = Table(title="held-out detection metrics (detect() = the deployed path)")
    for col in ("model", "path", "mAP50", "mAP50-95", "class", "P", "R", "ms", "boxes"):
        table.add_column(col)
    rows = [(n, f"detect() {d.runtime.split()[0]}", d.result, f"{d.ms_per_frame:.0f}")
            for n, d in deployed.items()]  # fmt: skip
    rows += [(n, "ultralytics val", r, "") for n, r in val.items()]
    for name, path, r, ms in rows:
        for cls, c in r.per_class.items():
            table.add_row(
                name, path, f"{r.map50:.3f}", f"{r.map50_95:.3f}", cls, f"{c['precision']:.2f}",
                f"{c['recall']:.2f}", ms, str(r.instances),
            )  # fmt: skip
    return table


def eval_cmd(
    model: Annotated[
        str,
        typer.Option(help="Weights path, registry version ('promoted'), nanodet or centernet."),
    ],
    data: Annotated[Path, typer.Option(help="data.yaml")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write results here.")] = None,
    compare: Annotated[
        list[str] | None,
        typer.Option(help="Other models to show side by side (the base, nanodet, centernet)."),
    ] = None,
    teacher_mot: Annotated[
        Path | None, typer.Option(help="MOT det.txt scored on the same frames.")
    ] = None,
    split: Annotated[str, typer.Option(help="Dataset split.")] = "test",
    imgsz: Annotated[
        int | None, typer.Option(help="Inference size of every model (default: each its own).")
    ] = None,
    device: Device = "auto",
    models_dir: ModelsDir = None,
) -> None:
    """mAP50, mAP50-95 and per-class P/R/F1 on the held-out split, through each model's deployed
    detect() path (teachers included) and, for YOLO files, ultralytics val; JSON + table."""
    from training.side_by_side import TEACHERS, evaluate_deployed
    from training.workflows import compare as val_report
    from training.workflows import evaluate_all, write_json

    refs = list(dict.fromkeys([model, *(compare or [])]))
    models = {ref: ref if ref in TEACHERS else _model_path(ref, models_dir) for ref in refs}
    yolo = {ref: path for ref, path in models.items() if ref not in TEACHERS}
    sizes = {ref: imgsz or _own_imgsz(path) for ref, path in yolo.items()}
    own = ", ".join(f"{ref} {size}" for ref, size in sizes.items())
    console.print(f"imgsz {imgsz}" if imgsz else f"imgsz: each model's own ({own})")
    deployed = evaluate_deployed(models, data, split, imgsz, device, models_dir)
    val = evaluate_all(yolo, data, split, sizes, teacher_mot, device) if yolo or teacher_mot else {}
    console.print(_table(deployed, val))
    if json_out:
        doc = val_report(val) if val else {}
        doc["deployed"] = {name: {**d.result.to_json(), "runtime": d.runtime,
                                  "ms_per_frame": d.ms_per_frame}
                           for name, d in deployed.items()}  # fmt: skip
        write_json(json_out, {**doc, "split": split, "data": str(data), "imgsz": imgsz or sizes})
        console.print(f"wrote {json_out}")


def label(
    teacher: Annotated[str, typer.Option(help="Checkpoint / registry version, or a MOT det.txt.")],
    source: Annotated[Path, typer.Argument(help="Folder of frames (e.g. MOT img1/).")],
    out: Annotated[Path, typer.Option(help="Folder for YOLO label files.")],
    conf: Annotated[float, typer.Option(help="Minimum teacher score.")] = 0.5,
    stride: Annotated[int, typer.Option(min=1, help="Label every Nth frame.")] = 1,
    imgsz: Annotated[
        int | None, typer.Option(help="Teacher inference size (default: the teacher's own).")
    ] = None,
    classes: Annotated[list[int] | None, typer.Option(help="Teacher class ids to keep.")] = None,
    models_dir: ModelsDir = None,
) -> None:
    """Write YOLO labels for a frame folder from a teacher detector (distillation)."""
    from training.workflows import label_with_teacher

    if teacher in ("nanodet", "centernet"):
        raise typer.BadParameter(
            f"the COCO teacher {teacher} labels footage through `monitor finetune --teacher "
            f"{teacher}` or `monitor distill`; `label` takes a YOLO checkpoint, a registry "
            "version or a MOT det.txt",
            param_hint="--teacher",
        )
    path = teacher if teacher.endswith(".txt") else _model_path(teacher, models_dir)
    size = imgsz or (640 if path.endswith(".txt") else _own_imgsz(path))
    n_img, n_box = label_with_teacher(path, source, out, conf, stride, size, classes)
    console.print(f"wrote {n_img} label files, {n_box} boxes, to {out}")


def export(
    version: Annotated[str, typer.Argument(help="Registered version to export.")],
    data: Annotated[Path, typer.Option(help="data.yaml whose test split checks the export.")],
    imgsz: Annotated[
        int | None, typer.Option(help="Export input size (default: the size it was trained at).")
    ] = None,
    int8: Annotated[
        bool,
        typer.Option(help="Also INT8 variants (onnxruntime static; OpenVINO IR when installed)."),
    ] = True,
    models_dir: ModelsDir = None,
) -> None:
    """Export to ONNX (and INT8), check against the .pt, register as variants of the version."""
    from training.workflows import export_version

    registry = _registry(models_dir)
    mv = registry.get(version)
    if mv.kind != "detector":
        raise typer.BadParameter(
            f"{version} is an {mv.kind} model; export makes ONNX and INT8 variants of detectors "
            "only",
            param_hint="VERSION",
        )
    size = imgsz or _own_imgsz(str(registry.resolve_path(mv)), 416)
    report = export_version(registry, version, data, size, int8)
    table = Table(title=f"{version} exports (test split, onnxruntime CPU)")
    for col in ("variant", "mAP50", "mAP50-95", "ms/frame", "MB"):
        table.add_column(col)
    for name in ("pt", "onnx", "onnx-int8", "openvino-int8"):
        if name in report:
            r = report[name]
            row = (r["map50"], r["map50_95"], r["ms_per_frame"] or "-", r["size_mb"])
            table.add_row(name, *map(str, row))
    console.print(table)
    console.print(f"onnx vs pt: {report['check']}")


def register(app: typer.Typer) -> None:
    """Add the training commands to the CLI."""
    app.command("import-data")(import_data)
    app.command("train")(train)
    app.command("eval")(eval_cmd)
    app.command("label")(label)
    app.command("export")(export)
