"""``monitor finetune``: imports, time-block split, review records, resumable stages, end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from monitor.types import Alert
from training.finetune import FinetuneRequest, labels_for, review_frames, run_finetune, split_frames
from training.labels import Box, LabeledFrame, LabelError, read_mot
from training.stages import StaleWorkError, check_request, read_stage, write_stage

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]


def test_cvat_labels_for_a_frame_folder(pets_subset: Path, pets_dir: Path) -> None:
    frames = labels_for(pets_subset, FIXTURES / "pets09_gt_1-3_cvat_images.xml", {0: "person"})
    gt = read_mot(pets_dir / "gt" / "gt.txt")
    assert [fr.frame for fr in frames] == [1, 2, 3]
    for fr in frames:
        assert sorted((b.x1, b.y1) for b in fr.boxes) == sorted((b.x1, b.y1) for b in gt[fr.frame])


def test_mot_labels_for_a_frame_folder(pets_subset: Path, pets_dir: Path) -> None:
    frames = labels_for(pets_subset, pets_dir / "gt" / "gt.txt", {0: "person"})
    assert len(frames) == 60 and all(fr.source == "gt" for fr in frames)


def _frames(video: str, numbers: range, source: str) -> list[LabeledFrame]:
    return [
        LabeledFrame(video, f, Path(f"{f}.jpg"), (Box(0, 0, 0, 5, 5),), source) for f in numbers
    ]


def test_split_holds_out_human_labels_with_a_gap() -> None:
    frames = _frames("cam", range(1, 41), "gt") + _frames("cam", range(41, 201), "teacher")
    frames += _frames("other", range(1, 101), "teacher")
    splits = split_frames(frames, gap=10)
    test_cam = [fr.frame for fr in splits["test"] if fr.video == "cam"]
    assert test_cam and all(fr.source == "gt" for fr in splits["test"] if fr.video == "cam")
    lo, hi = min(test_cam), max(test_cam)
    for s in ("train", "val"):
        assert all(
            fr.frame < lo - 10 or fr.frame > hi + 10 for fr in splits[s] if fr.video == "cam"
        )
    assert any(fr.video == "other" for fr in splits["test"])


def test_split_names_labels_too_few_to_hold_out_or_train_on() -> None:
    two = _frames("cam", (1, 2), "gt") + _frames("cam", range(3, 40), "teacher")
    with pytest.raises(LabelError, match="cam: 2 human-labelled frame.s. are too few"):
        split_frames(two)
    with pytest.raises(LabelError, match="no frame is left to train on out of 3"):
        split_frames(_frames("cam", (1, 2, 3), "gt"))


def test_stage_markers_resume(tmp_path: Path) -> None:
    assert read_stage(tmp_path, "import") is None
    write_stage(tmp_path, "import", {"n": 3})
    assert read_stage(tmp_path, "import") == {"n": 3}
    assert not list((tmp_path / "stages").glob(".*"))  # no temp file left


def test_a_work_folder_resumes_only_the_request_it_was_made_for(
    pets_subset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """Changing --labels (or footage, teacher, base) on a re-run is refused by name: resuming would
    train on the stale import."""
    import sys

    from cli.main import main

    inputs = {"footage": [str(pets_subset)], "labels": ["a.xml"], "teacher": "nanodet"}
    check_request(tmp_path, inputs)
    check_request(tmp_path, inputs)  # the same request resumes
    with pytest.raises(StaleWorkError, match=r"labels: \['a.xml'\] -> \['b.xml'\]"):
        check_request(tmp_path, {**inputs, "labels": ["b.xml"]})
    work = tmp_path / "work"
    xml = FIXTURES / "pets09_gt_1-3_cvat_images.xml"
    write_stage(work, "request", {"labels": ["other.xml"]})
    args = ["finetune", str(pets_subset), "--labels", str(xml), "--name", "x", "--work", str(work)]
    monkeypatch.setattr(sys, "argv", ["monitor", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"error: {work} holds the stages of another request" in err
    assert read_stage(work, "import") is None  # nothing was imported over the old stages


def test_review_records_become_training_frames(tmp_path: Path, pets_dir: Path) -> None:
    from monitor.store import Store
    from monitor.store.review import ReviewStore
    from training.finetune import make_teacher

    db = tmp_path / "monitor.db"
    (tmp_path / "alerts").mkdir()
    for f in (1, 2):
        (tmp_path / "alerts" / f"{f}.jpg").symlink_to(pets_dir / "img1" / f"{f:06d}.jpg")
    store = Store(db)
    alerts = [
        Alert(
            "pets", "rule", "zone", "warning", f, f, f, snapshot_path=f"alerts/{f}.jpg", id=str(f)
        )
        for f in (1, 2)
    ]
    store.write_alerts(alerts)
    store.close()
    reviews = ReviewStore(db)
    reviews.review("1", "reject", "ana", "shadow")
    reviews.mark_missed("pets", "ana", alert_id="2", box=(258, 219, 291, 308), label="person")
    frames = review_frames(db, make_teacher("nanodet", 0.35), {0: "person"})
    negative, positive = frames
    assert negative.boxes == () and negative.source == "review"
    assert any(b.x1 == 258 and b.score == 1.0 for b in positive.boxes)
    assert len(positive.boxes) >= 3  # the marked person plus the teacher's walkers


COCO8 = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 4: "airplane", 5: "bus", 6: "train",
          7: "truck"}  # fmt: skip
VEHICLES_TOP_RIGHT = (640, 30, 768, 110)  # PETS: a parked van and car at the top right edge


def _inside(b: Box, area: tuple[int, int, int, int]) -> bool:
    return b.x1 >= area[0] and b.y1 >= area[1] and b.x2 <= area[2] and b.y2 <= area[3]


def test_person_only_labels_are_completed_with_the_teachers_vehicles(pets_dir: Path) -> None:
    """MOT gt marks people only; the parked vehicles must not become background for the student."""
    from training.finetune import complete_labels, make_teacher
    from training.partial_labels import complete, key

    human = labels_for(pets_dir, pets_dir / "gt" / "gt.txt", {0: "person"})[:3]
    extra = complete_labels(human, make_teacher("nanodet", 0.35), COCO8, lambda *_: None)
    assert set(extra) == {key(fr) for fr in human}
    boxes = {k: [Box(int(b[0]), *map(float, b[1:6])) for b in v] for k, v in extra.items()}
    for fr in human:
        added = boxes[key(fr)]
        assert all(b.cls != 0 for b in added)  # the human's people are never touched
        assert len(added) == 2 and all(_inside(b, VEHICLES_TOP_RIGHT) for b in added), added
        assert {b.cls for b in added} <= {2, 7}  # car / truck; the van's two classes fused to one
        done = complete(fr, boxes)
        assert done.boxes[: len(fr.boxes)] == fr.boxes and len(done.boxes) == len(fr.boxes) + 2


def test_frames_without_any_human_box_are_not_completed() -> None:
    from training.partial_labels import completion

    teacher = [Box(2, 650, 45, 722, 99, 0.6), Box(7, 651, 45, 721, 99, 0.5)]
    assert completion(teacher, set()) == []
    assert completion(teacher, {0}) == [teacher[0]]  # car and truck on one van: one label
    assert completion(teacher, {0, 2}) == [teacher[1]]


@pytest.mark.slow
def test_finetune_end_to_end(tmp_path: Path, pets_subset: Path, pets_dir: Path) -> None:
    """From the promoted default (the 8-class student) on person-only MOT labels, as a user would."""
    models = tmp_path / "models"
    models.mkdir()
    registry = json.loads((REPO / "models" / "registry.json").read_text())
    base = registry["promoted"]["detector"]
    [entry] = [m for m in registry["models"] if m["version"] == base]
    shutil.copy2(REPO / "models" / entry["path"], models)
    registry.update(models=[{**entry, "variants": {}}], promoted={"detector": base}, history={})
    (models / "registry.json").write_text(json.dumps(registry))
    req = FinetuneRequest(
        footage=(pets_subset,), labels=(pets_dir / "gt" / "gt.txt",), name="pets-ft-v1",
        work=tmp_path / "work", stride=3, epochs=1, imgsz=128, batch=4, promote=True,
        models_dir=models, train_overrides={"workers": 0},
    )  # fmt: skip
    seen: list[str] = []
    result = run_finetune(req, lambda stage, frac, msg: seen.append(stage))
    assert {"import", "complete", "split", "before", "train", "after", "register"} <= set(seen)
    # person-only gt: training frames carry the teacher's vehicles too, held-out frames do not
    split = read_stage(req.work, "split")
    assert all(b[0] == 0 for row in split["test"] for b in row[5])
    labels = req.work / "dataset" / "labels" / "train"
    classes = {
        line.split()[0]
        for txt in labels.glob("*.txt")
        for line in txt.read_text().split("\n")
        if line
    }
    assert "0" in classes and classes & {"2", "7"}
    assert result["version"] == "pets-ft-v1" and (models / "pets-ft-v1.pt").is_file()
    assert result["before"]["images"] == result["after"]["images"] > 0
    reg = json.loads((models / "registry.json").read_text())
    mv = next(m for m in reg["models"] if m["version"] == "pets-ft-v1")
    assert mv["parent"] == base and "heldout_after" in mv["metrics"]
    assert (reg["promoted"]["detector"] == "pets-ft-v1") == result["better"]
    from training.gpu import train_device

    assert mv["train_args"]["device"] == train_device("auto")  # "0" where torch sees a GPU
    # openvino and nncf are dependencies: the new version gets the fast CPU path too
    assert result["openvino_int8"] == "pets-ft-v1-int8-openvino.xml"
    assert mv["variants"]["openvino-int8"] == "pets-ft-v1-int8-openvino.xml"
    from monitor.detectors.auto import AutoConfig, choose

    assert choose(AutoConfig(device="cpu", weights="pets-ft-v1"), models).backend == "openvino"
    again = run_finetune(req, lambda *_: None)  # every stage is marked done: nothing reruns
    assert again == result


def test_registered_checkpoints_carry_no_machine_paths(tmp_path: Path) -> None:
    """The promoted .pt, re-written as the registry now writes it: same model, portable args."""
    import torch

    from monitor.runtime import configure_offline
    from training.checkpoints import write_portable

    configure_offline()
    from ultralytics import YOLO

    src = REPO / "models" / "coco6-student-v4.pt"
    dst = tmp_path / "models" / "v4.pt"
    saved = torch.load(src, map_location="cpu", weights_only=False)["train_args"]
    # the machine paths that checkpoint embeds: its repository and its home folder
    repo, home = Path(saved["model"]).parents[1], Path(saved["project"]).parents[2]
    args = write_portable(src, dst, repo, home)
    assert args["model"] == "models/coco6-student-v3.pt"
    assert args["data"].startswith("~/") and args["project"].startswith("~/")
    ckpt = torch.load(dst, map_location="cpu", weights_only=False)
    assert "git" not in ckpt and ckpt["train_args"] == args
    before = torch.load(src, map_location="cpu", weights_only=False)["model"].state_dict()
    after = ckpt["model"].state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert YOLO(str(dst)).names == YOLO(str(src)).names


def test_finetune_trains_at_the_base_models_own_size_unless_told(tmp_path: Path) -> None:
    """No --imgsz: the size the base was trained at (the registry's record of its training)."""
    from training.finetune import _base_model

    registry = json.loads((REPO / "models" / "registry.json").read_text())
    for version in ("pets09-person-v1", registry["promoted"]["detector"]):
        [entry] = [m for m in registry["models"] if m["version"] == version]
        req = FinetuneRequest(footage=(), name="x", work=tmp_path, base=version)
        got, weights, names, own = _base_model(req)
        assert (got, own) == (version, entry["train_args"]["imgsz"]) and weights.is_file()
        assert names[0] == "person"


def test_registry_records_portable_training_args(tmp_path: Path) -> None:
    """The registry entry names the base and the dataset as the checkpoint does: relative to the
    repository or ``~/``, never as this machine's absolute paths."""
    import torch

    from monitor.registry import ModelRegistry
    from training.trainer import TrainResult
    from training.workflows import copy_and_register

    repo = tmp_path / "repo"
    registry = ModelRegistry(repo / "models")
    best = REPO / "models" / "coco6-student-v9.pt"
    data = Path.home() / ".cache" / "video-monitor" / "datasets" / "x" / "data.yaml"
    args = {"model": str(repo / "models" / "base.pt"), "data": str(data), "imgsz": 480,
            "project": str(tmp_path / "runs")}  # fmt: skip
    result = TrainResult(best, best, tmp_path, epochs=3, seconds=9.0, args=args)
    mv = copy_and_register(registry, "m-v2", result, data, parent="m-v1")
    assert mv.train_args == {"model": "models/base.pt", "data": "~/.cache/video-monitor/datasets/x/data.yaml",
                             "imgsz": 480, "epochs_run": 3, "train_seconds": 9.0}  # fmt: skip
    ckpt = torch.load(repo / "models" / "m-v2.pt", map_location="cpu", weights_only=False)
    assert not any(str(v).startswith(str(repo)) for v in ckpt["train_args"].values())
    assert ModelRegistry(repo / "models").get("m-v2").train_args == mv.train_args
