"""Evaluation, teacher labelling, training and export, run for real on PETS09 frames."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry
from training.evaluation import evaluate_boxes, frame_of, match, split_labels
from training.labels import Box, read_mot, read_yolo_txt
from training.workflows import MotPlan, build_mot_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def held_out(tmp_path_factory: pytest.TempPathFactory, pets_dir: Path) -> Path:
    """The reference dataset (gt 41-60 held out) with a short teacher range; its data.yaml."""
    out = tmp_path_factory.mktemp("pets")
    return build_mot_dataset(pets_dir, out, MotPlan(teacher=(71, 230), teacher_stride=4))


@pytest.fixture(scope="module")
def default_model() -> Path:
    reg = ModelRegistry(DEFAULT_MODELS_DIR)
    mv = reg.promoted("detector")
    if mv is None:
        pytest.fail(f"no promoted detector in {reg.file}: train it with pipelines/training.py")
    return reg.resolve_path(mv)


@pytest.mark.parametrize(
    ("truth", "preds", "expected"),
    [
        ([Box(0, 0, 0, 10, 10)], [Box(0, 0, 0, 10, 10, 0.9)], [[True] * 10]),
        ([Box(0, 0, 0, 10, 10)], [Box(0, 0, 0, 10, 7.2, 0.9)], [[True] * 5 + [False] * 5]),
        ([Box(0, 0, 0, 10, 10)], [Box(1, 0, 0, 10, 10, 0.9)], [[False] * 10]),
        (  # the higher score claims the target; the other gets it only where the first misses
            [Box(0, 0, 0, 10, 10)],
            [Box(0, 0, 0, 10, 10, 0.2), Box(0, 0, 0, 10, 9.2, 0.9)],
            [[False] * 9 + [True], [True] * 9 + [False]],
        ),
        ([], [Box(0, 0, 0, 10, 10, 0.5)], [[False] * 10]),
    ],
)
def test_match_is_greedy_by_score_per_threshold(truth, preds, expected) -> None:
    assert match(truth, preds).tolist() == expected


def test_ground_truth_scores_perfect_and_shifted_boxes_lose_map50_95(held_out: Path) -> None:
    truth = split_labels(held_out, "test")
    assert len(truth) == 20 and sum(map(len, truth.values())) == 120
    perfect = evaluate_boxes(truth, truth, {0: "person"})
    assert perfect.map50 == pytest.approx(0.995) and perfect.map50_95 == pytest.approx(
        0.995
    )  # 101-pt AP
    shifted = {
        k: [Box(b.cls, b.x1 + 4, b.y1 + 6, b.x2 + 4, b.y2 + 6) for b in v] for k, v in truth.items()
    }
    worse = evaluate_boxes(truth, shifted, {0: "person"})
    assert worse.map50 > 0.95 and worse.map50_95 < 0.8


def test_acf_teacher_on_held_out_frames_matches_reference(held_out: Path, pets_dir: Path) -> None:
    truth = split_labels(held_out, "test")
    det = read_mot(pets_dir / "det" / "det.txt", min_score=float("-inf"))
    r = evaluate_boxes(truth, {k: det.get(frame_of(k), []) for k in truth}, {0: "person"})
    assert (r.map50, r.map50_95) == (pytest.approx(0.69, abs=0.01), pytest.approx(0.22, abs=0.01))


def test_eval_cli_model_beats_teacher_on_held_out(
    held_out: Path, pets_dir: Path, default_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval.json"
    det = str(pets_dir / "det" / "det.txt")
    args = ["eval", "--model", str(default_model), "--data", str(held_out), "--imgsz", "416"]
    res = runner.invoke(app, [*args, "--teacher-mot", det, "--json", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert set(doc) >= {"map50", "map50_95", "models"}
    teacher = doc["models"]["teacher:det.txt"]
    assert doc["models"][str(default_model)]["instances"] == teacher["instances"] == 120
    assert doc["map50"] > teacher["map50"] + 0.1 and doc["map50_95"] > teacher["map50_95"]
    assert 0 < doc["models"][str(default_model)]["per_class"]["person"]["f1"] <= 1


def test_eval_cli_scores_coco_teachers_through_the_deployed_path(
    held_out: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval.json"
    args = ["eval", "--model", "promoted", "--compare", "nanodet", "--compare", "pets09-person-v1",
            "--data", str(held_out)]  # fmt: skip
    res = runner.invoke(app, [*args, "--device", "cpu", "--json", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    # without --imgsz each model runs at its own size, as a config leaving model.imgsz empty does
    assert doc["imgsz"] == {"promoted": 480, "pets09-person-v1": 416}
    old = doc["deployed"]["pets09-person-v1"]
    assert old["map50"] == pytest.approx(0.876, abs=0.015)  # its measured held-out AP at 416
    student, teacher = doc["deployed"]["promoted"], doc["deployed"]["nanodet"]
    assert student["instances"] == teacher["instances"] == 120
    assert teacher["runtime"].startswith("nanodet nanodet-coco.onnx")
    # NanoDet's measured held-out person AP (models/TEACHERS.md); the student beats it
    assert teacher["map50"] == pytest.approx(0.867, abs=0.01)
    assert student["map50"] > teacher["map50"] + 0.03 and student["map50_95"] > teacher["map50_95"]
    assert set(doc["models"]) == {"promoted", "pets09-person-v1"}  # val: YOLO files only
    assert abs(doc["models"]["promoted"]["map50"] - student["map50"]) < 0.02


def test_label_from_public_detections(pets_dir: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        ["label", str(pets_dir / "img1"), "--teacher", str(pets_dir / "det" / "det.txt"),
         "--out", str(tmp_path), "--conf", "0.7", "--stride", "5"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    files = sorted(tmp_path.iterdir())
    assert len(files) == 159 and files[0].name == "000001.txt"  # frames 1, 6, ..., 791
    det = read_mot(pets_dir / "det" / "det.txt", min_score=0.7)
    assert len(read_yolo_txt(files[1], 768, 576)) == len(det.get(6, []))


def test_label_points_coco_teachers_to_finetune_and_distill(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["label", str(tmp_path), "--teacher", "nanodet", "--out", str(tmp_path)]
    )
    assert res.exit_code == 2 and "monitor finetune --teacher nanodet" in res.output, res.output


def test_label_from_a_checkpoint_teacher(pets_dir: Path, tmp_path: Path, default_model: Path):
    res = runner.invoke(
        app,
        ["label", str(pets_dir / "img1"), "--teacher", str(default_model), "--out",
         str(tmp_path), "--conf", "0.5", "--stride", "200", "--imgsz", "416"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    gt = read_mot(pets_dir / "gt" / "gt.txt")
    boxes = read_yolo_txt(tmp_path / "000001.txt", 768, 576)
    matched = match(gt[1], [Box(b.cls, b.x1, b.y1, b.x2, b.y2, 0.9) for b in boxes])[:, 0]
    assert len(list(tmp_path.iterdir())) == 4 and matched.sum() >= len(gt[1]) - 2


def _headless_copy(weights: Path, dst: Path) -> Path:
    """The model with its class-score convs zeroed: boxes intact, every score the same."""
    import torch
    from ultralytics import YOLO

    yolo = YOLO(str(weights))
    head = yolo.model.model[-1]
    with torch.no_grad():
        for branch in head.cv3:
            branch[-1].weight.zero_()
            branch[-1].bias.zero_()  # every score 0.5: the ranking carries no information
    yolo.save(str(dst))
    return dst


def test_two_epochs_of_fine_tuning_improve_map(
    held_out: Path, default_model: Path, tmp_path: Path
) -> None:
    from training.trainer import evaluate

    start = _headless_copy(default_model, tmp_path / "start.pt")
    before = evaluate(start, held_out, "test", imgsz=320)
    res = runner.invoke(
        app,
        ["train", "--data", str(held_out), "--base", str(start), "--epochs", "2", "--imgsz",
         "320", "--batch", "8", "--workers", "0", "--project", str(tmp_path / "runs"),
         "--set", "nbs=8", "--set", "warmup_epochs=0", "--set", "freeze=22",
         "--set", "optimizer=SGD", "--set", "lr0=0.01",
         "--register", "ft-v1", "--promote", "--models-dir", str(tmp_path / "models")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    reg = ModelRegistry(tmp_path / "models")
    mv = reg.promoted()
    assert mv is not None and mv.version == "ft-v1" and mv.train_args["epochs_run"] == 2
    after = evaluate(reg.resolve_path(mv), held_out, "test", imgsz=320)
    # measured: 0.016 -> 0.43 (head-only fine-tuning of the default model, 2 epochs)
    assert before.map50 < 0.05 and after.map50 > before.map50 + 0.25, (before, after)


def test_bad_input_is_one_line_naming_the_thing(
    pets_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``monitor`` commands given a wrong version, a missing data.yaml or a split-less one exit 2
    with one line naming it, not a traceback."""
    import sys

    from cli.main import main

    partial = tmp_path / "partial.yaml"
    partial.write_text("path: .\ntrain: images/train\nnames: {0: person}\n")
    junk = tmp_path / "teacher.pt"
    junk.write_bytes(b"not a checkpoint")
    cases = [
        (["export", "nosuch", "--data", str(partial)], "model version 'nosuch' not in"),
        (["train", "--data", str(tmp_path / "none.yaml")],
         f"data.yaml not found: {tmp_path / 'none.yaml'}"),
        (["eval", "--model", "promoted", "--data", str(tmp_path / "none.yaml")],
         f"data.yaml not found: {tmp_path / 'none.yaml'}"),
        (["export", "coco6-student-v4", "--data", str(tmp_path / "none.yaml")],
         f"data.yaml not found: {tmp_path / 'none.yaml'}"),
        (["export", "coco6-student-v4", "--data", str(partial)],
         f"{partial} has no 'test' split (checking the export against the .pt needs it)"),
        (["label", str(pets_dir / "img1"), "--teacher", str(junk), "--out", str(tmp_path / "l"),
          "--stride", "400"], f"cannot load detector weights {junk}: not a YOLO model"),
    ]  # fmt: skip
    for args, message in cases:
        monkeypatch.setattr(sys, "argv", ["monitor", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.startswith(f"error: {message}"), err
        assert len(err.strip().splitlines()) == 1, err


def test_offline_amp_check_stands_in_for_ultralytics_downloading_one(default_model: Path) -> None:
    """ultralytics' AMP check downloads yolo26n.pt; inside ``offline_amp`` the trainer uses ours."""
    from ultralytics import YOLO
    from ultralytics.engine import trainer

    from training.gpu import offline_amp, offline_amp_check

    original = trainer.check_amp
    with offline_amp():
        assert trainer.check_amp is offline_amp_check
    assert trainer.check_amp is original
    assert offline_amp_check(YOLO(str(default_model)).model) is False  # no AMP on a CPU


@pytest.mark.gpu
def test_gpu_fine_tuning_picks_cuda_checks_amp_offline_and_improves_map(
    held_out: Path, default_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``monitor train`` with no --device trains on the GPU, with AMP, downloading nothing."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or os.environ.get("MONITOR_NO_GPU"):
        pytest.skip("no CUDA device")
    from ultralytics.utils import downloads

    from training import gpu
    from training.trainer import evaluate

    fetched: list[object] = []

    def no_download(*args: object, **kwargs: object) -> None:
        fetched.append(args or kwargs)
        raise ConnectionError("offline")

    monkeypatch.setattr(downloads, "safe_download", no_download)
    checks: list[bool] = []
    real = gpu.offline_amp_check
    monkeypatch.setattr(gpu, "offline_amp_check", lambda m: checks.append(real(m)) or checks[-1])
    assert real(_cuda_model(default_model)) is True
    start = _headless_copy(default_model, tmp_path / "start.pt")
    before = evaluate(start, held_out, "test", imgsz=320)
    res = runner.invoke(
        app,
        ["train", "--data", str(held_out), "--base", str(start), "--epochs", "2", "--imgsz",
         "320", "--batch", "8", "--project", str(tmp_path / "runs"), "--set", "nbs=8",
         "--set", "warmup_epochs=0", "--set", "freeze=22", "--set", "optimizer=SGD",
         "--set", "lr0=0.01", "--register", "ft-gpu", "--models-dir", str(tmp_path / "models")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    mv = ModelRegistry(tmp_path / "models").get("ft-gpu")
    assert mv.train_args["device"] == "0", mv.train_args
    assert checks == [True] and fetched == []
    after = evaluate(ModelRegistry(tmp_path / "models").resolve_path(mv), held_out, "test", 320)
    assert before.map50 < 0.05 and after.map50 > before.map50 + 0.25, (before, after)


def _cuda_model(weights: Path) -> object:
    """The checkpoint's torch module on the first GPU."""
    from ultralytics import YOLO

    return YOLO(str(weights)).model.cuda()  # type: ignore[union-attr]


def test_onnx_export_matches_pt_on_held_out_frames(
    held_out: Path, default_model: Path, tmp_path: Path
) -> None:
    from training.export import compare_detections, export_onnx

    onnx_path = export_onnx(default_model, tmp_path / "m.onnx", imgsz=416)
    frames = sorted((held_out.parent / "images" / "test").iterdir())[::4]
    rep = compare_detections(default_model, onnx_path, frames, imgsz=416, conf=0.25)
    assert rep.reference_boxes >= 20
    assert rep.recall >= 0.98 and rep.extra <= 1, rep
    assert rep.min_iou > 0.95 and rep.max_conf_diff < 0.02, rep
    assert np.isfinite(rep.max_conf_diff)


@pytest.mark.parametrize(
    "bad",
    [["--stride", "0"], ["--val", "0.6", "--test", "0.6"], ["--block", "0"], ["--gap", "-3"]],
)
def test_import_data_refuses_bad_split_options(pets_dir: Path, tmp_path: Path, bad) -> None:
    res = runner.invoke(app, ["import-data", str(pets_dir), "--out", str(tmp_path / "d"), *bad])
    assert res.exit_code == 2 and bad[0] in res.output and not (tmp_path / "d").exists()


def test_export_refuses_an_anomaly_model(tmp_path: Path) -> None:
    partial = tmp_path / "data.yaml"
    partial.write_text("path: .\ntest: images/test\nnames: {0: person}\n")
    res = runner.invoke(app, ["export", "ucsd-ped2-anomaly-v1", "--data", str(partial)])
    assert res.exit_code == 2, res.output
    assert "ucsd-ped2-anomaly-v1 is an anomaly model" in " ".join(res.output.split())
