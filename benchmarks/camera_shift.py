"""Held-out PETS under camera-like shifts: the student against its teachers and the old default.

No footage from other cameras ships here, so this is a proxy for "cameras it never saw": the
held-out PETS gt frames 41-60 (never trained on) are re-rendered the way other cameras differ
(lower resolution, night gain and noise, IR greyscale, motion blur, heavy JPEG) and every model
is scored through its deployed ``detect`` path on the same frames. Person AP only: the gt has
people alone. Writes JSON and prints a table.

    python benchmarks/camera_shift.py --json runs/camera_shift.json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from bench_report import machine, split_size, write_json  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from monitor.detectors import BACKENDS, create_detector  # noqa: E402
from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry, resolve_model  # noqa: E402
from monitor.types import Frame  # noqa: E402
from training.datasets import frames_from_mot  # noqa: E402
from training.evaluation import evaluate_boxes  # noqa: E402
from training.finetune import boxes_of  # noqa: E402
from training.labels import Box, LabeledFrame  # noqa: E402

DATA = Path(os.environ.get("MONITOR_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
Shift = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, float]]
"""(image, rng) -> (shifted image, scale applied to the boxes)."""


def _scaled(factor: float) -> Shift:
    def shift(img: np.ndarray, _rng: np.random.Generator) -> tuple[np.ndarray, float]:
        h, w = img.shape[:2]
        size = (round(w * factor), round(h * factor))
        return cv2.resize(img, size, interpolation=cv2.INTER_AREA), factor

    return shift


def _night(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Low light: a quarter of the exposure, a darkening gamma, sensor noise after the gain."""
    dark = 255.0 * (img.astype(np.float32) / 255.0 * 0.25) ** 1.4
    noisy = dark + rng.normal(0.0, 4.0, img.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), 1.0


def _ir_grey(img: np.ndarray, _rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """An IR night camera: one channel, contrast equalised."""
    grey = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), 1.0


def _motion_blur(img: np.ndarray, _rng: np.random.Generator) -> tuple[np.ndarray, float]:
    kernel = np.zeros((9, 9), np.float32)
    kernel[4, :] = 1.0 / 9.0
    return cv2.filter2D(img, -1, kernel), 1.0


def _jpeg(img: np.ndarray, _rng: np.random.Generator) -> tuple[np.ndarray, float]:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 10])
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    if out is None:
        raise RuntimeError("JPEG round trip failed")
    return out, 1.0


SHIFTS: dict[str, Shift] = {
    "none": lambda img, _rng: (img, 1.0),
    "half resolution (384x288)": _scaled(0.5),
    "third resolution (256x192)": _scaled(1 / 3),
    "night (1/4 exposure, noise)": _night,
    "IR greyscale": _ir_grey,
    "motion blur 9 px": _motion_blur,
    "JPEG quality 10": _jpeg,
}


def models_under_test(models_dir: Path, students: list[str]) -> dict[str, dict[str, Any]]:
    """Detector configs: the students (default: the promoted one), each also through its INT8
    OpenVINO export when registered with one, both teachers, the old person-only default.

    A student written ``NAME@SIZE`` runs at inference size SIZE instead of its own.
    """
    registry = ModelRegistry(models_dir)
    if not students:
        promoted = registry.promoted("detector")
        students = [promoted.version] if promoted else []
    known = {mv.version: mv for mv in registry.list("detector")}
    out: dict[str, dict[str, Any]] = {}
    for student in students:
        name, size = split_size(student)
        at = {"imgsz": size} if size else {}
        out[f"{student} (.pt)"] = {"backend": "ultralytics", "weights": name, **at}
        if "openvino-int8" in getattr(known.get(name), "variants", {}):
            out[f"{student} INT8 IR (CPU default)"] = {"backend": "auto", "weights": name, **at}
    out["NanoDet (teacher)"] = {"backend": "nanodet"}
    out["CenterNet (teacher)"] = {"backend": "centernet"}
    out["pets09-person-v1 (old default)"] = {
        "backend": "ultralytics",
        "weights": "pets09-person-v1",
    }
    return out


def detector_for(spec: dict[str, Any], models_dir: Path, iou: float | None = None) -> Any:
    """The deployed detector of one ``models_under_test`` entry, at conf 0.001 on the CPU, at the
    model's own input size unless the entry names one; ``iou`` replaces the default NMS IoU."""
    backend = spec["backend"]
    fields: dict[str, Any] = {"conf": 0.001, "device": "cpu", "imgsz": spec.get("imgsz")}
    if iou is not None:
        fields["iou"] = iou
    if backend == "auto":  # the registry picks the INT8 OpenVINO export on a CPU
        fields.update(weights=spec["weights"], batch=1)
    elif "weights" in spec:
        fields["weights"] = str(resolve_model(spec["weights"], "detector", models_dir))
    return create_detector(BACKENDS[backend][0].model_validate(fields))


def score(detector: Any, frames: list[LabeledFrame], shift: Shift, seed: int) -> dict[str, Any]:
    """Person AP of ``detector`` on the shifted frames; the gt boxes follow the resize."""
    rng = np.random.default_rng(seed)
    truth, preds, seconds = {}, {}, 0.0
    for i, fr in enumerate(frames):
        raw = cv2.imread(str(fr.image))
        if raw is None:
            raise FileNotFoundError(f"cannot read {fr.image}")
        img, k = shift(raw, rng)
        frame = Frame(fr.video, fr.frame, 0.0, img)
        if i == 0:
            detector.detect([frame])  # warm-up
        start = time.perf_counter()
        [dets] = detector.detect([frame])
        seconds += time.perf_counter() - start
        key = str(fr.frame)
        truth[key] = [Box(b.cls, b.x1 * k, b.y1 * k, b.x2 * k, b.y2 * k) for b in fr.boxes]
        preds[key] = boxes_of(dets, {"person": 0})
    res = evaluate_boxes(truth, preds, {0: "person"})
    return {"map50": res.map50, "map50_95": res.map50_95, "recall": res.recall,
            "ms_per_frame": round(1000 * seconds / len(frames), 1)}  # fmt: skip


def table(report: dict[str, Any]) -> Table:
    """Person mAP50 / mAP50-95 per shift (rows) and model (columns)."""
    models = list(report["models"])
    t = Table(title=f"{report['frames']} under camera shifts: person mAP50 / mAP50-95")
    t.add_column("shift")
    for m in models:
        t.add_column(m, justify="right")
    for shift in SHIFTS:
        cells = [report["models"][m][shift] for m in models]
        best = max(c["map50"] for c in cells)
        t.add_row(shift, *(f"{'[b]' if c['map50'] == best else ''}{c['map50']:.3f}"
                           f"{'[/b]' if c['map50'] == best else ''} / {c['map50_95']:.3f}"
                           for c in cells))  # fmt: skip
    means = [
        np.mean([report["models"][m][s]["map50"] for s in SHIFTS if s != "none"]) for m in models
    ]
    t.add_row("mean of the shifts (mAP50)", *(f"{v:.3f}" for v in means))
    return t


def held_out_parser(doc: str, json_name: str) -> argparse.ArgumentParser:
    """The options every held-out PETS benchmark takes: data, registry, JSON path, seed, the
    students to score, and which labelled frames to score them on."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA / "pets09_s2l1")
    ap.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    ap.add_argument("--json", type=Path, default=Path("runs") / json_name)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--student",
        action="append",
        default=[],
        help="registry version or .pt, NAME@SIZE for another inference size "
        "(repeatable; default: the promoted detector)",
    )
    ap.add_argument("--gt", type=Path, help="MOT ground truth (default: the sequence's gt/gt.txt)")
    ap.add_argument("--iou", type=float, help="NMS IoU of every detector (default: the config's)")
    ap.add_argument(
        "--frames",
        default="41-60",
        help="first-last gt frames to score, comma-separated spans allowed (default 41-60, the "
        "held-out block; with the full MOT15 gt, 716-795 is the students' validation block and "
        "31-40,61-70 the gap around the held-out block)",
    )
    return ap


def held_out_frames(
    data: Path, gt: Path | None = None, span: str = "41-60"
) -> tuple[list[LabeledFrame], dict[str, Any]]:
    """The scored PETS gt frames (default 41-60; ``span`` is FIRST-LAST[,FIRST-LAST...]) and the
    head of a report on them."""
    spans = [tuple(int(v) for v in part.split("-")) for part in span.split(",")]
    frames = [f for lo, hi in spans for f in frames_from_mot(data, labels=gt, frames=(lo, hi))]
    what = "held out of every training split" if span == "41-60" else f"from {gt or 'gt'}"
    head = {"frames": f"PETS09-S2L1 gt {span} ({what})",
            "instances": sum(len(f.boxes) for f in frames)}  # fmt: skip
    return frames, head


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the JSON report."""
    args = held_out_parser(__doc__ or "", "camera_shift.json").parse_args(argv)
    frames, head = held_out_frames(args.data, args.gt, args.frames)
    report: dict[str, Any] = {**head, "models": {}}
    for name, spec in models_under_test(args.models_dir, args.student).items():
        det = detector_for(spec, args.models_dir, args.iou)
        report["models"][name] = {s: score(det, frames, fn, args.seed) for s, fn in SHIFTS.items()}
    report["env"] = machine()
    write_json(report, args.json)
    console = Console(width=160)
    console.print(table(report))
    console.print(f"JSON -> {args.json}")
    return report


if __name__ == "__main__":
    main()
