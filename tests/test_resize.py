"""A detector's weights registered at another deployed size (training.resize, ``monitor models
resize``), on the real v9 checkpoint and real PETS frames."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import torch
from typer.testing import CliRunner

from monitor.detectors.ultralytics import UltralyticsConfig, UltralyticsDetector
from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry
from monitor.types import Frame
from training.evaluation import box_iou

BASE = "coco6-student-v9"


def _registry_with_base(root: Path) -> ModelRegistry:
    src = ModelRegistry(DEFAULT_MODELS_DIR)
    reg = ModelRegistry(root)
    mv = src.get(BASE)
    shutil.copy(src.resolve_path(mv), root / mv.path)
    reg.register(mv)
    return reg


def test_resized_version_runs_at_its_new_size_with_the_same_weights(
    tmp_path: Path, pets_dir: Path, gt_tracks
) -> None:
    from cli.main import app

    reg = _registry_with_base(tmp_path)
    args = ["models", "resize", "m-v2", "--base", BASE, "--imgsz", "480",
            "--models-dir", str(tmp_path)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    mv = reg.get("m-v2")
    assert mv.parent == BASE and mv.train_args["imgsz"] == 480 and reg.promoted() is None
    assert mv.data_fingerprint == reg.get(BASE).data_fingerprint
    a = torch.load(reg.resolve_path(reg.get(BASE)), map_location="cpu", weights_only=False)
    b = torch.load(reg.resolve_path(mv), map_location="cpu", weights_only=False)
    sa, sb = a["model"].state_dict(), b["model"].state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a["train_args"]["imgsz"] == 416 and b["train_args"]["resize"]["trained_at"] == 416

    det = UltralyticsDetector(UltralyticsConfig(weights=str(reg.resolve_path(mv)), conf=0.25))
    assert det.imgsz == 480  # model.imgsz: null -> the version's own size
    matched = total = 0
    for n in (45, 55):
        img = cv2.imread(str(pets_dir / "img1" / f"{n:06d}.jpg"))
        [d] = det.detect([Frame("pets", n - 1, (n - 1) / 7, img)])
        gt = gt_tracks[n - 1][1].xyxy
        iou = box_iou(gt, d.xyxy[np.array(d.names) == "person"])
        matched += int((iou.max(axis=1) >= 0.5).sum())
        total += len(gt)
    assert matched / total >= 0.9, f"recall@0.5 {matched}/{total}"

    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and "already registered" in again.output
    odd = CliRunner().invoke(app, [*args[:2], "m-v3", *args[3:6], "450", *args[7:]])
    assert odd.exit_code != 0 and "multiple of 32" in odd.output
    unknown = CliRunner().invoke(app, [*args[:2], "m-v4", "--base", "nope-v1", *args[5:]])
    assert unknown.exit_code != 0 and "nope-v1" in unknown.output
    assert not (tmp_path / "m-v3.pt").exists() and not (tmp_path / "m-v4.pt").exists()
