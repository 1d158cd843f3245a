"""Detectors side by side on one split of a labelled dataset, each the way it is deployed.

Every model, the COCO teachers included, is scored through the ``detect()`` path that ``monitor
batch`` and ``monitor live`` run: ``backend: auto`` for YOLO weights (the INT8 OpenVINO export on
a CPU when the model has one), the teachers' own pre-processing and decoding, NMS, class names
matched by name. On a user's own labelled footage (``monitor import-data``, then ``monitor eval
--compare nanodet --compare centernet``) this is the check that the default detector is at least
as good as its teachers on that camera.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.datasets import dataset_names, split_frames
from training.finetune import evaluate_detector, make_teacher
from training.gpu import torch_device
from training.trainer import EvalResult

TEACHERS = ("nanodet", "centernet")
"""The COCO teachers' backends, accepted wherever ``monitor eval`` takes a model."""


@dataclass(frozen=True)
class Deployed:
    """One model's figures through its deployed path on the split."""

    result: EvalResult
    runtime: str
    ms_per_frame: float


def deployed_detector(
    ref: str, imgsz: int | None, device: str, models_dir: Path | None = None
) -> Any:
    """The detector a config naming ``ref`` runs: a teacher backend, or ``backend: auto`` with
    ``ref`` (a weights path) as its weights, at conf 0.001 and one frame per call; ``imgsz``
    None = the model's own size, as a config that leaves it empty."""
    from monitor.detectors.auto import AutoConfig, AutoDetector
    from monitor.registry import DEFAULT_MODELS_DIR

    if ref in TEACHERS:
        return make_teacher(ref, conf=0.001)
    cfg = AutoConfig(weights=ref, conf=0.001, imgsz=imgsz, batch=1, device=torch_device(device))
    return AutoDetector(cfg, models_dir or DEFAULT_MODELS_DIR)


def evaluate_deployed(
    models: Mapping[str, str],
    data_yaml: str | Path,
    split: str = "test",
    imgsz: int | None = None,
    device: str = "cpu",
    models_dir: Path | None = None,
) -> dict[str, Deployed]:
    """Score each model (name -> teacher name or weights path) on ``split`` of ``data_yaml``, at
    ``imgsz`` or (None) each model's own size."""
    from monitor.detectors import describe

    frames = split_frames(data_yaml, split, "evaluation")
    names = dataset_names(data_yaml)
    out = {}
    for name, ref in models.items():
        detector = deployed_detector(ref, imgsz, device, models_dir)
        figures = evaluate_detector(detector, frames, names)
        ms = figures.pop("ms_per_frame")
        out[name] = Deployed(EvalResult(**figures), describe(detector), ms)
    return out
