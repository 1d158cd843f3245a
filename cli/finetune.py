"""``monitor finetune``: adapt the default detector to a user's camera in one resumable command.

Heavy imports stay inside the command so ``monitor --help`` is fast.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cli.train import Device

console = Console()
DEFAULT_WORK = Path(
    os.environ.get("MONITOR_FINETUNE_DIR", Path.home() / ".cache" / "video-monitor" / "finetune")
)


def finetune(
    footage: Annotated[list[Path], typer.Argument(help="Videos or frame folders of the camera.")],
    name: Annotated[str, typer.Option(help="Registry version to create, e.g. mycam-v1.")],
    labels: Annotated[
        list[Path] | None,
        typer.Option(
            help="Labels per footage, in order: MOT .txt, YOLO folder, COCO .json, "
            "CVAT .xml. Frames without labels get teacher labels."
        ),
    ] = None,  # fmt: skip
    teacher: Annotated[
        str, typer.Option(help="nanodet | centernet | weights or registry version.")
    ] = "nanodet",
    base: Annotated[
        str | None, typer.Option(help="Start from this model (default: promoted).")
    ] = None,
    store: Annotated[
        Path | None, typer.Option(help="monitor.db whose review label records join training.")
    ] = None,
    work: Annotated[Path | None, typer.Option(help="Work folder (resume: same folder).")] = None,
    stride: Annotated[int, typer.Option(min=1, help="Take every N-th frame.")] = 1,
    epochs: Annotated[int, typer.Option(min=1)] = 20,
    imgsz: Annotated[
        int | None, typer.Option(min=32, help="Training size (default: the base model's own).")
    ] = None,
    batch: Annotated[int, typer.Option(min=1)] = 16,
    hours: Annotated[float | None, typer.Option(help="Training wall-clock cap.")] = None,
    camera_aug: Annotated[
        bool, typer.Option(help="Night, IR, blur and JPEG augmentation while training.")
    ] = True,
    device: Device = "auto",
    promote: Annotated[
        bool, typer.Option(help="Promote if better than the base on the held-out block.")
    ] = False,
    models_dir: Annotated[Path | None, typer.Option(help="Registry folder.")] = None,
) -> None:
    """Import, teacher-label, split by time, train from the default, evaluate before/after, register."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from training.finetune import STAGES, FinetuneRequest, is_footage, run_finetune

    bad = [str(p) for p in footage if not p.exists() or not is_footage(p)]
    if bad:
        raise typer.BadParameter(f"not a video or frame folder: {', '.join(bad)}")
    req = FinetuneRequest(
        footage=tuple(footage), name=name, work=work or DEFAULT_WORK / name,
        labels=tuple(labels or ()), teacher=teacher, base=base, store=store, stride=stride,
        epochs=epochs, imgsz=imgsz, batch=batch, hours=hours, promote=promote,
        models_dir=models_dir, device=device, train_overrides={"camera_aug": camera_aug},
    )  # fmt: skip
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[msg]}"))
    with Progress(*columns, TimeElapsedColumn(), console=console) as bar:
        overall = bar.add_task("finetune", total=len(STAGES), msg="")
        current = bar.add_task("import", total=1.0, msg="")

        def progress(stage: str, fraction: float, msg: str) -> None:
            bar.update(current, description=stage, completed=fraction, msg=msg)
            if fraction >= 1.0 or msg.startswith("done"):
                bar.update(overall, completed=STAGES.index(stage) + 1, msg=stage)
            elif fraction == 0.0:
                bar.update(overall, completed=STAGES.index(stage), msg=stage)

        result = run_finetune(req, progress)
    before, after = result["before"], result["after"]
    console.print(
        f"{result['version']}: held-out mAP50 {before['map50']:.3f} -> {after['map50']:.3f}, "
        f"mAP50-95 {before['map50_95']:.3f} -> {after['map50_95']:.3f}; "
        + ("promoted" if result["promoted"] else "registered, not promoted")
        + ("" if result["better"] or not promote else " (not better than the base)")
    )
    console.print(f"work folder: {req.work}")


def distill(
    data: Annotated[Path, typer.Option(help="Shared footage root.")] = Path("../shared/data"),
    work: Annotated[Path, typer.Option(help="Pseudo-label JSONL folder (resumable).")] = (
        DEFAULT_WORK.parent / "distill"
    ),
    out: Annotated[Path, typer.Option(help="Dataset folder to write.")] = (
        DEFAULT_WORK.parent / "datasets" / "coco6-student"
    ),
    stride: Annotated[
        list[str] | None,
        typer.Option(help="NAME=N frame stride per footage (pets, ped2, intel or a video stem)."),
    ] = None,
    label_score: Annotated[float, typer.Option(help="Fused score of a label.")] = 0.35,
    track_score: Annotated[float, typer.Option(help="Fused score that may extend a track.")] = 0.15,
    human_repeat: Annotated[
        int, typer.Option(help="Copies of each human-labelled training frame (PETS gt 1-30).")
    ] = 1,
    label: Annotated[
        bool, typer.Option(help="Label new frames; --no-label rebuilds from the JSONL written.")
    ] = True,
    style: Annotated[
        bool, typer.Option(help="Shift teacher box edges to the human labels' style per video.")
    ] = True,
    gt: Annotated[
        Path | None,
        typer.Option(
            help="PETS MOT ground truth (default DATA/pets09_s2l1/gt/gt.txt, frames 1-60); a full "
            "one (MOT15 has all 795 frames) replaces the teachers' persons on the labelled frames "
            "after the held-out gap. Frames 31-70 are never used."
        ),
    ] = None,
) -> None:
    """Teacher-ensemble pseudo-labels (WBF, flip TTA) over the shared footage, repaired along tracks."""
    from rich.progress import Progress

    from training.distill import (
        human_frames,
        label_footage,
        read_pseudo,
        shared_footage,
        teacher_ensemble,
    )
    from training.label_repair import RepairParams, build_student_dataset
    from training.labels import read_mot

    strides = {"pets": 2, "ped2": 10, "car-detection": 2, "one-by-one-person-detection": 20}
    strides.update({k: int(v) for k, _, v in (s.partition("=") for s in stride or [])})
    plan = shared_footage(data, strides)
    jsonl = work / "pseudo.jsonl"
    ensemble = teacher_ensemble()
    with Progress(console=console, disable=not label) as bar:
        for refs, det in plan if label else []:
            task = bar.add_task(refs[0].video, total=len(refs))
            acf = read_mot(det, min_score=0.5) if det else None
            done = partial(_advance, bar, task, len(refs))
            label_footage(refs, ensemble, jsonl, acf, done)
            bar.update(task, completed=len(refs))
    pets = data / "pets09_s2l1"
    truth = read_mot(gt or pets / "gt" / "gt.txt")
    labelled = {int(r["frame"]) for r in read_pseudo(jsonl) if r["video"] == pets.name}
    human = {pets.name: human_frames(truth, labelled)}
    params = RepairParams(label_score=label_score, track_score=track_score)
    data_yaml, report = build_student_dataset(
        jsonl, out, params, human, human_repeat=human_repeat, style=style, human_classes={0}
    )
    console.print({"data": str(data_yaml), **report["total"], "style": report["style"]})


def _advance(bar: Any, task: Any, total: int, i: int, todo: int, _ms: float) -> None:
    bar.update(task, completed=total - todo + i)


def register(app: typer.Typer) -> None:
    """Add ``finetune`` and ``distill`` to the CLI."""
    app.command("finetune")(finetune)
    app.command("distill")(distill)
