"""Teacher-ensemble pseudo-labels (WBF, flip TTA) and their repair along tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.distill import (
    HELD_OUT,
    FrameRef,
    Voter,
    fuse_frame,
    label_footage,
    read_pseudo,
    shared_footage,
    teacher_ensemble,
    weighted_box_fusion,
)
from training.evaluation import evaluate_boxes
from training.label_repair import RepairParams, repair
from training.labels import Box, read_mot


def _voter(name: str, rows: list[list[float]], weight: float = 1.0) -> Voter:
    arr = np.array(rows, np.float32).reshape(-1, 6)
    return Voter(name, arr[:, :4], arr[:, 4], arr[:, 5].astype(np.int64), weight)


@pytest.mark.parametrize(
    ("voters", "expected_boxes", "expected_scores", "expected_votes"),
    [
        # two voters agree: one box, mean coordinates, full score
        ([[[0, 0, 10, 10, 0.8, 0]], [[1, 1, 11, 11, 0.8, 0]]], [[0.5, 0.5, 10.5, 10.5]], [0.8], [2]),
        # one of two voters: the score is halved (the other voter said nothing)
        ([[[0, 0, 10, 10, 0.8, 0]], []], [[0, 0, 10, 10]], [0.4], [1]),
        # same place, different classes: never fused
        ([[[0, 0, 10, 10, 0.6, 0]], [[0, 0, 10, 10, 0.6, 2]]], [[0, 0, 10, 10]] * 2, [0.3, 0.3],
         [1, 1]),
        # far apart: two boxes
        ([[[0, 0, 10, 10, 0.9, 0], [50, 50, 60, 60, 0.9, 0]], []],
         [[0, 0, 10, 10], [50, 50, 60, 60]], [0.45, 0.45], [1, 1]),
    ],
)  # fmt: skip
def test_wbf_hand_made(voters, expected_boxes, expected_scores, expected_votes) -> None:
    xyxy, scores, _, votes = weighted_box_fusion([_voter(str(i), v) for i, v in enumerate(voters)])
    order = np.lexsort((xyxy[:, 0], -scores))
    np.testing.assert_allclose(xyxy[order], expected_boxes, atol=1e-4)
    np.testing.assert_allclose(scores[order], expected_scores, atol=1e-4)
    assert votes[order].tolist() == expected_votes


def test_wbf_weights_pull_the_box() -> None:
    heavy = _voter("a", [[0, 0, 10, 10, 0.9, 0]], weight=3.0)
    light = _voter("b", [[2, 0, 12, 10, 0.9, 0]], weight=1.0)
    [box], [score], _, _ = weighted_box_fusion([heavy, light])
    assert box[0] == pytest.approx(0.5) and score == pytest.approx(0.9)


def _frames(*boxes_per_frame: list[list[float]]) -> list[list[list[float]]]:
    return [list(rows) for rows in boxes_per_frame]


def test_repair_interpolates_a_gap() -> None:
    walk = [[0, 10.0 * i, 0, 10.0 * i + 20, 50, 0.9] for i in range(6)]
    frames = _frames(*[[w] for w in walk])
    frames[2] = frames[3] = []  # the teacher blinked for two frames
    labels, counts = repair(frames)
    assert counts["interpolated"] == 2
    assert labels[2][0].x1 == pytest.approx(20.0) and labels[3][0].x1 == pytest.approx(30.0)


def test_repair_drops_a_lone_box_and_keeps_one_near_a_track() -> None:
    track = [[0, 100.0, 100, 130, 180, 0.9]]
    frames = _frames(track, track, track + [[0, 400, 400, 420, 450, 0.8]], track, track)
    labels, counts = repair(frames)
    assert counts["dropped"] == 1 and len(labels[2]) == 1
    beside = [[0, 105.0, 100, 135, 180, 0.8]]  # overlaps the long track: a neighbour, kept
    frames = _frames(track, track, track + beside, track, track)
    _, counts = repair(frames, RepairParams(dedupe_iou=0.95))
    assert counts["dropped"] == 0


def test_repair_rescues_weak_boxes_of_a_confident_track() -> None:
    rows = [[0, 0, 0, 20, 50, s] for s in (0.9, 0.9, 0.2, 0.9, 0.9)]
    labels, counts = repair(_frames(*[[r] for r in rows]))
    assert counts["rescued"] == 1 and len(labels[2]) == 1


def test_shared_footage_keeps_the_held_out_block_out(data_dir: Path) -> None:
    plan = shared_footage(data_dir, {"pets": 1, "ped2": 1000, "intel": 1000})
    pets = next(refs for refs, det in plan if det is not None)
    frames = {r.frame for r in pets}
    assert not frames & set(range(HELD_OUT[0], HELD_OUT[1] + 1))
    assert {1, 30, 71, 795} <= frames
    assert HELD_OUT == (31, 70)  # gt 41-60 and 10 frames each side


@pytest.fixture(scope="module")
def pets_fused(pets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Real teacher-ensemble output (NanoDet + CenterNet, flip TTA, ACF voter) on PETS frames 1-4."""
    refs = [FrameRef("pets", f, pets_dir / "img1" / f"{f:06d}.jpg") for f in range(1, 5)]
    out = tmp_path_factory.mktemp("distill") / "pseudo.jsonl"
    acf = read_mot(pets_dir / "det" / "det.txt", min_score=0.5)
    label_footage(refs, teacher_ensemble(), out, acf)
    label_footage(refs, teacher_ensemble(), out, acf)  # resumed: nothing added
    return read_pseudo(out)


def test_real_ensemble_finds_the_walkers(pets_fused: list[dict], pets_dir: Path) -> None:
    assert [r["frame"] for r in pets_fused] == [1, 2, 3, 4]
    gt = read_mot(pets_dir / "gt" / "gt.txt")
    truth = {str(r["frame"]): gt[r["frame"]] for r in pets_fused}
    preds = {
        str(r["frame"]): [Box(0, *b[1:5], b[5]) for b in r["boxes"] if b[0] == 0]
        for r in pets_fused
    }
    assert evaluate_boxes(truth, preds, {0: "person"}).map50 >= 0.8
    assert all(b[6] >= 1 for r in pets_fused for b in r["boxes"])


def test_real_repair_keeps_the_walkers(pets_fused: list[dict], pets_dir: Path) -> None:
    labels, counts = repair([r["boxes"] for r in pets_fused], RepairParams(label_score=0.35))
    gt = read_mot(pets_dir / "gt" / "gt.txt")
    truth = {str(i + 1): gt[i + 1] for i in range(4)}
    preds = {str(i + 1): [b for b in labels[i] if b.cls == 0] for i in range(4)}
    assert evaluate_boxes(truth, preds, {0: "person"}).map50 >= 0.8
    assert counts["labels"] >= counts["confident"] - counts["dropped"] - counts["deduplicated"]


def test_flip_tta_is_symmetric(pets_dir: Path) -> None:
    import cv2

    image = cv2.imread(str(pets_dir / "img1" / "000001.jpg"))
    ens = {k: v for k, v in teacher_ensemble({"nanodet": 1.0}).items()}
    a = fuse_frame(image, ens)
    b = fuse_frame(np.ascontiguousarray(image[:, ::-1]), ens)
    strong_a = sorted(round(image.shape[1] - r[3]) for r in a if r[5] > 0.5)
    strong_b = sorted(round(r[1]) for r in b if r[5] > 0.5)
    assert len(strong_a) == len(strong_b) >= 3
    np.testing.assert_allclose(strong_a, strong_b, atol=2)


def test_student_dataset_from_real_labels(
    pets_fused: list[dict], pets_dir: Path, tmp_path: Path
) -> None:
    import json

    import yaml

    from training.label_repair import build_student_dataset

    jsonl = tmp_path / "pseudo.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in pets_fused))
    gt = read_mot(pets_dir / "gt" / "gt.txt")
    data, report = build_student_dataset(jsonl, tmp_path / "ds", human={"pets": {1: gt[1]}}, gap=0)
    names = yaml.safe_load(data.read_text())["names"]
    assert names[0] == "person" and names[2] == "car" and names[7] == "truck"  # COCO ids
    manifest = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert sum(c["images"] for c in manifest["counts"].values()) == 4
    assert report["total"]["labels"] >= 3 and "pets" in report["per_video"]


def test_human_frames_never_touch_the_held_out_block(pets_dir: Path) -> None:
    from training.distill import HELD_OUT, human_frames

    gt = read_mot(pets_dir / "gt" / "gt.txt")  # the shared file: frames 1-60
    assert sorted(human_frames(gt, labelled=set(range(1, 61)))) == list(range(1, 31))
    # A full ground truth (MOT15 covers all 795 frames): after the gap only the labelled frames.
    full = {**gt, **{f + 60: gt[f] for f in range(1, 61)}}
    picked = human_frames(full, labelled={71, 73, 119, 35, 45})
    assert not [f for f in picked if HELD_OUT[0] <= f <= HELD_OUT[1]]
    assert [f for f in picked if f > HELD_OUT[1]] == [71, 73, 119]


def test_human_frames_keep_the_teachers_vehicles(pets_fused: list[dict], pets_dir: Path) -> None:
    from training.distill import student_frames
    from training.label_repair import RepairParams, repair_rows

    labels, _ = repair_rows(pets_fused, RepairParams(label_score=0.35))
    vehicles = [b for b in labels[("pets", 1)] if b.cls != 0]
    assert vehicles, "the teachers box PETS' parked van and car"
    gt = read_mot(pets_dir / "gt" / "gt.txt")
    human = {"pets": {1: gt[1]}}
    only_gt = {f.frame: f for f in student_frames(pets_fused, labels, human)}[1]
    merged = {f.frame: f for f in student_frames(pets_fused, labels, human, {0})}[1]
    assert only_gt.source == merged.source == "gt"
    assert only_gt.boxes == tuple(gt[1])
    assert merged.boxes[: len(gt[1])] == tuple(gt[1])
    assert sorted(b.cls for b in merged.boxes[len(gt[1]) :]) == sorted(b.cls for b in vehicles)
