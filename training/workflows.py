"""Training compositions: import labelled footage -> train -> evaluate -> register.

The project's default person detector is built here from PETS09-S2L1: ground truth for frames
1-30 (train) and 31-40 (val), the public ACF detections as teacher labels from frame 71 on, and
ground-truth frames 41-60 held out as the test split no training step sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.registry import ModelRegistry, ModelVersion
from monitor.runtime import configure_offline
from training.datasets import (
    DEFAULT_DATASETS_DIR,
    check_no_leak,
    frame_images,
    frames_from_mot,
    read_manifest,
    sample,
    split_images,
    write_dataset,
)
from training.labels import Box, LabeledFrame, read_mot, write_yolo_txt
from training.trainer import EvalResult, TrainResult


@dataclass(frozen=True)
class MotPlan:
    """Frame ranges of a MOT sequence for the default detector (all inclusive, 1-based).

    Defaults follow the shared README's reference: gt 1-30 train, 31-40 val, 41-60 test; teacher
    (``det.txt``) frames from 71 on, a 10-frame gap after the test block so nothing leaks.
    """

    train_gt: tuple[int, int] = (1, 30)
    val_gt: tuple[int, int] = (31, 40)
    test_gt: tuple[int, int] = (41, 60)
    teacher: tuple[int, int] | None = (71, 795)
    teacher_min_score: float = 0.7
    teacher_stride: int = 2


def build_mot_dataset(
    seq_dir: str | Path, out_dir: str | Path | None = None, plan: MotPlan | None = None
) -> Path:
    """Write the YOLO dataset of a MOT sequence following ``plan``; returns ``data.yaml``.

    Teacher frames without any box above the score threshold are left out rather than kept as
    background: an empty teacher frame means a missed detection more often than an empty scene.
    """
    plan = plan or MotPlan()
    seq = Path(seq_dir)
    out = Path(out_dir) if out_dir else DEFAULT_DATASETS_DIR / f"{seq.name}-person"

    def gt(span: tuple[int, int]) -> list[LabeledFrame]:
        return frames_from_mot(seq, frames=span)

    train = gt(plan.train_gt)
    if plan.teacher:
        teacher = frames_from_mot(
            seq,
            seq / "det" / "det.txt",
            min_score=plan.teacher_min_score,
            frames=plan.teacher,
            source="teacher",
        )
        train += [fr for fr in sample(teacher, plan.teacher_stride) if fr.boxes]
    splits = {"train": train, "val": gt(plan.val_gt), "test": gt(plan.test_gt)}
    check_no_leak({"train": splits["train"], "test": splits["test"]}, gap=5)
    return write_dataset(out, splits, {0: "person"})


def copy_and_register(
    registry: ModelRegistry,
    version: str,
    result: TrainResult,
    data_yaml: str | Path,
    parent: str | None = None,
    promote: bool = False,
    metrics: dict[str, Any] | None = None,
) -> ModelVersion:
    """Copy a run's ``best.pt`` to ``<registry>/<version>.pt`` (without machine paths, see
    ``training.checkpoints``) and register it with its lineage."""
    from training.checkpoints import portable_path, write_portable

    dst = registry.root / f"{version}.pt"
    registry.root.mkdir(parents=True, exist_ok=True)
    repo = registry.root.resolve().parent
    write_portable(result.best, dst, repo)
    train_args = {k: portable_path(v, repo) if isinstance(v, str) else v
                  for k, v in result.args.items() if k != "project"}  # fmt: skip
    train_args.update(epochs_run=result.epochs, train_seconds=result.seconds)
    mv = ModelVersion.new(
        version,
        "detector",
        dst.name,
        parent=parent,
        data_fingerprint=read_manifest(data_yaml).get("fingerprint"),
        train_args=train_args,
        metrics=metrics or {"val": result.metrics},
    )
    registry.register(mv, promote=promote)
    return mv


def evaluate_all(
    models: dict[str, str],
    data_yaml: str | Path,
    split: str = "test",
    imgsz: int | Mapping[str, int] = 640,
    teacher_mot: str | Path | None = None,
    device: str = "cpu",
) -> dict[str, EvalResult]:
    """Evaluate each model, and optionally a MOT ``det.txt`` teacher, on the same split;
    ``imgsz`` is one size for all, or each model's own (name -> size)."""
    from training.evaluation import evaluate_boxes, frame_of, split_labels
    from training.gpu import train_device
    from training.trainer import evaluate

    dev = train_device(device)
    sizes = imgsz if isinstance(imgsz, Mapping) else dict.fromkeys(models, imgsz)
    results = {
        name: evaluate(path, data_yaml, split, sizes[name], device=dev)
        for name, path in models.items()
    }
    if teacher_mot:
        truth = split_labels(data_yaml, split)
        det = read_mot(teacher_mot, min_score=float("-inf"))
        preds = {stem: det.get(frame_of(stem), []) for stem in truth}
        results[f"teacher:{Path(teacher_mot).name}"] = evaluate_boxes(truth, preds, {0: "person"})
    return results


def _predict_boxes(
    model: str, images: list[Path], conf: float, imgsz: int, classes: list[int] | None
) -> dict[Path, list[Box]]:
    configure_offline()
    from ultralytics import YOLO

    from monitor.detectors.ultralytics import load_yolo

    yolo = load_yolo(YOLO, Path(model))
    remap = {c: i for i, c in enumerate(classes)} if classes else None
    out: dict[Path, list[Box]] = {}
    for img in images:
        results: Any = yolo.predict(
            str(img), conf=conf, imgsz=imgsz, classes=classes, verbose=False
        )
        r = results[0]
        data = r.boxes.data.cpu().numpy()
        out[img] = [
            Box(remap[int(row[5])] if remap else int(row[5]), float(row[0]), float(row[1]),
                float(row[2]), float(row[3]), float(row[4]))
            for row in data
        ]  # fmt: skip
    return out


def label_with_teacher(
    teacher: str | Path,
    source: str | Path,
    out: str | Path,
    conf: float = 0.5,
    stride: int = 1,
    imgsz: int = 640,
    classes: list[int] | None = None,
) -> tuple[int, int]:
    """Write ``<stem>.txt`` YOLO labels for every ``stride``-th frame from a teacher detector.

    Args:
        teacher: A MOT ``det.txt`` (public detections) or weights ultralytics can load.
        source: Frame folder (MOT ``img1/``); frame numbers come from the file names.
        out: Label folder, usable as ``labels_dir`` of :func:`training.datasets.frames_from_yolo`.
        conf: Teacher score threshold. imgsz: Teacher inference size.
        classes: Teacher class ids to keep, renumbered 0.. in the given order (e.g. ``[0]``).

    Returns:
        (label files written, boxes written).
    """
    from PIL import Image

    images = frame_images(source)
    first = min(images)
    picked = [p for f, p in sorted(images.items()) if (f - first) % stride == 0]
    if str(teacher).endswith(".txt"):
        det = read_mot(teacher, min_score=conf)
        boxes = {p: det.get(f, []) for f, p in images.items()}
    else:
        boxes = _predict_boxes(str(teacher), picked, conf, imgsz, classes)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_boxes = 0
    for img in picked:
        with Image.open(img) as im:
            w, h = im.size
        n_boxes += write_yolo_txt(out_dir / f"{img.stem}.txt", boxes.get(img, []), w, h)
    return len(picked), n_boxes


def metrics_from_eval(eval_json: str | Path) -> dict[str, Any]:
    """Registry metrics from an ``monitor eval`` JSON: the headline model and any teacher."""
    doc = json.loads(Path(eval_json).read_text())
    models = doc["models"]
    head = next(iter(models.values()))
    out: dict[str, Any] = {k: head[k] for k in ("map50", "map50_95", "precision", "recall")}
    out.update(per_class=head["per_class"], split=doc.get("split", "test"))
    out.update(images=head["images"], instances=head["instances"])
    for name, r in models.items():
        if name.startswith("teacher:"):
            out["teacher"] = {"name": name, "map50": r["map50"], "map50_95": r["map50_95"]}
    return out


def compare(results: dict[str, EvalResult]) -> dict[str, Any]:
    """Side-by-side JSON of several models' results on the same split (first key = headline)."""
    first = next(iter(results.values()))
    out: dict[str, Any] = {"map50": first.map50, "map50_95": first.map50_95}
    out["models"] = {name: r.to_json() for name, r in results.items()}
    return out


def write_json(path: str | Path, obj: Any) -> None:
    """Pretty JSON file, parents created."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(obj, indent=2, default=str) + "\n")


def export_version(
    registry: ModelRegistry,
    version: str,
    data_yaml: str | Path,
    imgsz: int = 416,
    int8: bool = True,
    calib_images: int = 64,
) -> dict[str, Any]:
    """Export a registered detector to ONNX (and INT8), check, measure and register the variants.

    The fp32 export is registered only if its detections match the ``.pt`` on the test frames
    (>= 98% of boxes found, IoU > 0.95, scores within 0.02); the INT8 export is registered with its
    measured test mAP and CPU latency next to fp32's, whatever they are.

    Returns:
        Report: match check, per-variant mAP and median onnxruntime latency (ms/frame).
    """
    from training.export import compare_detections, export_onnx, quantize_int8

    mv = registry.get(version)
    pt = registry.resolve_path(mv)
    test_frames = split_images(data_yaml, "test", "checking the export against the .pt")
    fp32 = export_onnx(pt, registry.root / f"{version}.onnx", imgsz)
    check = compare_detections(pt, fp32, test_frames, imgsz)
    if check.recall < 0.98 or check.min_iou < 0.95 or check.max_conf_diff > 0.02 or check.extra > 1:
        raise RuntimeError(f"ONNX export of {version} does not match the .pt: {check}")
    registry.add_variant(version, "onnx", fp32)
    check_json = check.__dict__ | {"recall": check.recall}
    if int8:
        train_frames = split_images(data_yaml, "train", "INT8 calibration")
        step = max(1, len(train_frames) // calib_images)
        q = quantize_int8(fp32, registry.root / f"{version}-int8.onnx", train_frames[::step], imgsz)
        registry.add_variant(version, "onnx-int8", q)
        add_openvino_int8(registry, version, train_frames, imgsz)
    report = {"check": check_json, **measure_variants(registry, version, data_yaml, imgsz)}
    registry.update_metrics(version, {"export": report})
    return report


def add_openvino_int8(
    registry: ModelRegistry, version: str, train_images: Sequence[Path], imgsz: int = 416
) -> Path | None:
    """Export a registered version's INT8 OpenVINO IR and register it as its ``openvino-int8``
    variant, so ``backend: auto`` runs it; None without openvino/nncf.

    NNCF calibrates on every ``len // 192``-th of ``train_images`` (about 192 frames, spread over
    the sorted list so every video is represented); ``monitor export`` and ``monitor finetune``
    share it.
    """
    import importlib.util

    from monitor.detectors.openvino import INT8_VARIANT, int8_ir_path
    from training.export import export_openvino_int8

    if not all(importlib.util.find_spec(m) for m in ("openvino", "nncf")):
        return None
    pt = registry.resolve_path(registry.get(version))
    calib = list(train_images)[:: max(1, len(train_images) // 192)]
    xml = export_openvino_int8(pt, int8_ir_path(pt), calib, imgsz)
    registry.add_variant(version, INT8_VARIANT, xml)
    return xml


def measure_variants(
    registry: ModelRegistry, version: str, data_yaml: str | Path, imgsz: int = 416
) -> dict[str, Any]:
    """Test-split mAP, median onnxruntime CPU latency and size of a version and its variants."""
    from training.export import onnx_latency_ms
    from training.trainer import evaluate

    mv = registry.get(version)
    test_frames = sorted((Path(str(data_yaml)).parent / "images" / "test").iterdir())
    report: dict[str, Any] = {}
    for name in ["pt", *mv.variants]:
        path = registry.resolve_path(mv, None if name == "pt" else name)
        if path.suffix == ".xml":  # OpenVINO IR: ultralytics val cannot read a bare .xml
            report[name] = {"size_mb": round(path.with_suffix(".bin").stat().st_size / 1e6, 2)}
            report[name] |= held_out_openvino(path, data_yaml)
            continue
        r = evaluate(path, data_yaml, "test", imgsz)
        ms = onnx_latency_ms(path, test_frames, imgsz) if path.suffix == ".onnx" else None
        report[name] = {"map50": r.map50, "map50_95": r.map50_95, "ms_per_frame": ms}
        report[name]["size_mb"] = round(path.stat().st_size / 1e6, 2)
    return report


def held_out_openvino(xml: Path, data_yaml: str | Path) -> dict[str, Any]:
    """Test-split mAP of an OpenVINO IR through the deployed detect path (rect letterbox)."""
    from monitor.detectors.openvino import OpenVinoConfig, OpenVinoDetector
    from training.datasets import dataset_names, split_frames
    from training.finetune import evaluate_detector

    frames = split_frames(data_yaml, "test", "the export check")
    det = OpenVinoDetector(OpenVinoConfig(weights=str(xml), conf=0.001, device="cpu"))
    out = evaluate_detector(det, frames, dataset_names(data_yaml))
    return {"map50": out["map50"], "map50_95": out["map50_95"], "ms_per_frame": out["ms_per_frame"]}


def add_openvino_int8_or_log(
    registry: Any, version: str, data_yaml: Path, imgsz: int
) -> str | None:
    """``add_openvino_int8`` on the ``images/train`` of ``data_yaml``'s dataset for a version just
    registered (``monitor finetune``): the IR's file name, or None (logged) if it cannot be made."""
    import logging

    try:
        images = split_images(data_yaml, "train", "INT8 calibration")
        xml = add_openvino_int8(registry, version, images, imgsz)
    except Exception as err:  # noqa: BLE001 - the model is registered either way
        logging.getLogger(__name__).warning("no OpenVINO INT8 export of %s: %s", version, err)
        return None
    return xml.name if xml is not None else None
