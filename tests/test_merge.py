"""Weight interpolation of two registered detectors (training.merge, ``monitor models merge``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from monitor.detectors.ultralytics import UltralyticsConfig, UltralyticsDetector
from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry
from monitor.types import Frame
from training.evaluation import box_iou
from training.merge import MergeError, interpolate

REPO = Path(__file__).resolve().parents[1]
V4 = DEFAULT_MODELS_DIR / "coco6-student-v4.pt"
V7 = DEFAULT_MODELS_DIR / "coco6-student-v7.pt"


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["model"].state_dict()


def test_endpoints_are_the_sources_and_the_midpoint_their_mean(tmp_path: Path) -> None:
    a, b = _state(V4), _state(V7)
    for alpha, want in ((0.0, a), (1.0, b)):
        got = _state(interpolate(V4, V7, alpha, tmp_path / f"{alpha}.pt", REPO).path)
        assert all(torch.equal(got[k], want[k]) for k in want)
    mid = _state(interpolate(V4, V7, 0.5, tmp_path / "mid.pt", REPO).path)
    key = "model.0.conv.weight"
    assert not torch.equal(a[key], b[key])
    expect = (a[key].float() + b[key].float()) / 2
    assert torch.allclose(mid[key].float(), expect, atol=1e-3) and mid[key].dtype == a[key].dtype
    counter = next(k for k, t in a.items() if not t.is_floating_point())  # BN num_batches_tracked
    assert torch.equal(mid[counter], a[counter])
    ckpt = torch.load(tmp_path / "mid.pt", map_location="cpu", weights_only=False)
    assert ckpt["train_args"]["merge"]["alpha"] == 0.5 and "git" not in ckpt


def test_a_merged_detector_finds_the_held_out_walkers(tmp_path: Path, pets_dir, gt_tracks) -> None:
    weights = interpolate(V4, V7, 0.5, tmp_path / "mid.pt", REPO).path
    det = UltralyticsDetector(UltralyticsConfig(weights=str(weights), conf=0.25, imgsz=416))
    matched = total = 0
    for n in (45, 55):
        img = cv2.imread(str(pets_dir / "img1" / f"{n:06d}.jpg"))
        [d] = det.detect([Frame("pets", n - 1, (n - 1) / 7, img)])
        people = d.xyxy[np.array(d.names) == "person"]
        gt = gt_tracks[n - 1][1].xyxy
        iou = box_iou(gt, people)
        matched += int((iou.max(axis=1) >= 0.5).sum())
        total += len(gt)
    assert matched / total >= 0.8, f"recall@0.5 {matched}/{total}"


def test_incompatible_inputs_are_refused_by_name(tmp_path: Path) -> None:
    person_only = DEFAULT_MODELS_DIR / "pets09-person-v1.pt"
    with pytest.raises(MergeError, match="class names differ"):
        interpolate(V4, person_only, 0.5, tmp_path / "x.pt", REPO)
    with pytest.raises(MergeError, match="alpha"):
        interpolate(V4, V7, 1.5, tmp_path / "x.pt", REPO)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        interpolate(V4, tmp_path / "nope.pt", 0.5, tmp_path / "x.pt", REPO)
    assert not (tmp_path / "x.pt").exists()


def test_cli_registers_the_merge_with_its_lineage(tmp_path: Path) -> None:
    from cli.main import app

    src = ModelRegistry(DEFAULT_MODELS_DIR)
    reg = ModelRegistry(tmp_path)
    for version in ("coco6-student-v4", "coco6-student-v7"):
        mv = src.get(version)
        shutil.copy(src.resolve_path(mv), tmp_path / mv.path)
        reg.register(mv)
    args = ["models", "merge", "m-v1", "--base", "coco6-student-v4",
            "--other", "coco6-student-v7", "--alpha", "0.3", "--models-dir", str(tmp_path)]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    mv = reg.get("m-v1")
    assert mv.parent == "coco6-student-v4" and mv.train_args["merge"]["other"] == "coco6-student-v7"
    assert mv.data_fingerprint == src.get("coco6-student-v4").data_fingerprint
    assert reg.resolve_path(mv).is_file() and reg.promoted() is None
    saved = torch.load(reg.resolve_path(mv), map_location="cpu", weights_only=False)
    assert saved["train_args"]["merge"] == mv.train_args["merge"]  # the recipe travels with it
    listed = CliRunner().invoke(app, ["models", "list", "--models-dir", str(tmp_path)],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert "0.7 x coco6-student-v4 + 0.3 x coco6-student-v7" in listed.output, listed.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and "already registered" in again.output
    unknown = CliRunner().invoke(app, [*args[:2], "m-v2", "--base", "nope-v1", *args[5:]])
    assert unknown.exit_code != 0 and "nope-v1" in unknown.output
