"""Label parsers, sampling, time-block splits and dataset writing on PETS09 labels and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from training import datasets as ds
from training.labels import (
    Box,
    LabeledFrame,
    LabelError,
    LabelRecord,
    read_coco,
    read_mot,
    read_yolo_txt,
    write_yolo_txt,
)
from training.workflows import MotPlan, build_mot_dataset


@pytest.fixture(scope="module")
def gt(pets_dir: Path) -> dict[int, list[Box]]:
    return read_mot(pets_dir / "gt" / "gt.txt")


def test_read_mot_ground_truth_matches_readme(gt: dict[int, list[Box]]) -> None:
    assert sorted(gt) == list(range(1, 61))
    assert sum(len(b) for b in gt.values()) == 283
    first = gt[1][0]  # 1,9,499,158,31.03,75.17,...
    assert (first.x1, first.y1) == (499, 158)
    assert first.x2 == pytest.approx(530.03) and first.y2 == pytest.approx(233.17)


def test_read_mot_detections_filters_by_score(pets_dir: Path) -> None:
    det_file = pets_dir / "det" / "det.txt"
    rows = [line.split(",") for line in det_file.read_text().splitlines() if line.strip()]
    expected = sum(float(r[6]) >= 0.7 for r in rows)
    det = read_mot(det_file, min_score=0.7)
    assert sum(len(b) for b in det.values()) == expected < len(rows)
    assert all(b.score >= 0.7 for boxes in det.values() for b in boxes)
    assert max(det) <= 795


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("3,1,10,10,abc,20,1,-1,-1,-1", "not a number"),
        ("3,1,10,10", "expected at least 6 fields"),
        ("3,1,10,10,-5,20,1,-1,-1,-1", "width and height must be > 0"),
        ("0,1,10,10,5,20,1,-1,-1,-1", "frame must be a positive integer"),
        ("2.5,1,10,10,5,20,1,-1,-1,-1", "frame must be a positive integer"),
        ("3,1,10,10,5,inf,1,-1,-1,-1", "non-finite"),
    ],
)
def test_bad_mot_line_names_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    f = tmp_path / "gt.txt"
    f.write_text("1,1,10,10,5,20,1,-1,-1,-1\n\n" + line + "\n")
    with pytest.raises(LabelError, match=rf"gt\.txt:3: {why}"):
        read_mot(f)


def test_yolo_roundtrip_on_real_boxes(tmp_path: Path, gt: dict[int, list[Box]]) -> None:
    txt = tmp_path / "000001.txt"
    assert write_yolo_txt(txt, gt[1], 768, 576) == len(gt[1])
    back = read_yolo_txt(txt, 768, 576, nc=1)
    for a, b in zip(gt[1], back, strict=True):
        assert np.allclose([a.x1, a.y1, a.x2, a.y2], [b.x1, b.y1, b.x2, b.y2], atol=0.01)


def test_write_yolo_clips_boxes_to_the_image(tmp_path: Path) -> None:
    txt = tmp_path / "a.txt"
    n = write_yolo_txt(txt, [Box(0, -10, 500, 50, 700), Box(0, 800, 0, 900, 10)], 768, 576)
    assert n == 1  # the second box lies outside the image
    (box,) = read_yolo_txt(txt, 768, 576)
    assert (box.x1, box.y2) == (pytest.approx(0, abs=1e-3), pytest.approx(576, abs=1e-3))


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("0 0.5 0.5 0.1", "expected 5 fields"),
        ("1.5 0.5 0.5 0.1 0.1", "bad class index"),
        ("3 0.5 0.5 0.1 0.1", "bad class index"),
        ("0 0.5 1.5 0.1 0.1", "coordinates must be normalised"),
        ("0 0.5 0.5 0 0.1", "coordinates must be normalised"),
        ("0 0.5 x 0.1 0.1", "not a number"),
    ],
)
def test_bad_yolo_line_names_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    f = tmp_path / "img.txt"
    f.write_text("0 0.5 0.5 0.1 0.1\n" + line + "\n")
    with pytest.raises(LabelError, match=rf"img\.txt:2: {why}"):
        read_yolo_txt(f, 100, 100, nc=2)


def _coco_doc(gt: dict[int, list[Box]]) -> dict:
    images = [{"id": f, "file_name": f"{f:06d}.jpg", "width": 768, "height": 576} for f in (1, 2)]
    anns = [
        {"id": i, "image_id": 1, "category_id": 7, "bbox": [b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1]}
        for i, b in enumerate(gt[1])
    ]
    return {"images": images, "annotations": anns, "categories": [{"id": 7, "name": "person"}]}


def test_coco_import_keeps_unlabelled_image_as_background(
    tmp_path: Path, pets_dir: Path, gt: dict[int, list[Box]]
) -> None:
    f = tmp_path / "ann.json"
    f.write_text(json.dumps(_coco_doc(gt)))
    frames, names = ds.frames_from_coco(f, pets_dir / "img1")
    assert names == {0: "person"}
    assert [fr.frame for fr in frames] == [1, 2]
    assert len(frames[0].boxes) == len(gt[1]) and frames[1].boxes == ()
    assert all(b.cls == 0 for b in frames[0].boxes)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d["annotations"][1].update(image_id=99), r"annotations\[1\]: unknown image_id"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 0, 5]), r"annotations\[0\]: bbox"),
        (
            lambda d: d["annotations"][2].update(category_id=1),
            r"annotations\[2\]: unknown category",
        ),
        (lambda d: d.pop("categories"), "missing list 'categories'"),
    ],
)
def test_bad_coco_annotation_is_named(tmp_path: Path, gt: dict, change, why: str) -> None:
    doc = _coco_doc(gt)
    change(doc)
    f = tmp_path / "ann.json"
    f.write_text(json.dumps(doc))
    with pytest.raises(LabelError, match=why):
        read_coco(f)


def test_truncated_coco_json_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "ann.json"
    f.write_text('{"images": [\n  {"id": 1,\n')
    with pytest.raises(LabelError, match=r"ann\.json:\d+: invalid JSON"):
        read_coco(f)


def test_frames_from_mot_keeps_empty_frames_as_background(tmp_path: Path, pets_dir: Path) -> None:
    labels = tmp_path / "gt.txt"
    labels.write_text("2,1,10,10,50,80,1,-1,-1,-1\n4,1,12,10,50,80,1,-1,-1,-1\n")
    frames = ds.frames_from_mot(pets_dir, labels)
    assert [(fr.frame, len(fr.boxes)) for fr in frames] == [(1, 0), (2, 1), (3, 0), (4, 1)]
    assert frames[0].image == pets_dir / "img1" / "000001.jpg"


def test_sample_takes_every_nth_frame_per_video(pets_dir: Path) -> None:
    frames = ds.frames_from_mot(pets_dir)
    picked = ds.sample(frames, 4)
    assert [fr.frame for fr in picked] == list(range(1, 61, 4))
    with pytest.raises(ValueError):
        ds.sample(frames, 0)


@pytest.mark.parametrize("block", [None, 5, 12])
@pytest.mark.parametrize("gap", [0, 3])
def test_time_block_split_never_puts_neighbours_in_other_splits(
    pets_dir: Path, block: int | None, gap: int
) -> None:
    frames = ds.frames_from_mot(pets_dir)
    splits = ds.time_block_split(frames, val=0.2, test=0.2, block=block, gap=gap)
    numbers = {s: [fr.frame for fr in v] for s, v in splits.items()}
    assert all(numbers[s] for s in ds.SPLITS)
    assert not set(numbers["train"]) & set(numbers["test"])
    ds.check_no_leak(splits, gap=gap)  # raises on a neighbour across splits
    dropped = 60 - sum(len(v) for v in numbers.values())
    assert dropped == 0 if gap == 0 else dropped > 0
    if block is None:  # one contiguous block each, in time order
        assert max(numbers["train"]) < min(numbers["val"]) <= max(numbers["val"])
        assert max(numbers["val"]) < min(numbers["test"])
        assert numbers["test"] == list(range(60 - len(numbers["test"]) + 1, 61))


def test_check_no_leak_catches_adjacent_frames(pets_dir: Path) -> None:
    frames = ds.frames_from_mot(pets_dir, frames=(1, 10))
    with pytest.raises(ValueError, match=r"frame 5 \(train\) and 6 \(test\)"):
        ds.check_no_leak({"train": frames[:5], "test": frames[5:]}, gap=1)


def test_write_dataset_links_images_and_writes_labels(tmp_path: Path, pets_dir: Path) -> None:
    frames = ds.frames_from_mot(pets_dir, frames=(1, 6))
    empty = LabeledFrame("pets09_s2l1", 7, pets_dir / "img1" / "000007.jpg")
    splits = {"train": frames[:4], "val": [empty], "test": frames[5:]}
    data_yaml = ds.write_dataset(tmp_path / "d", splits, {0: "person"})
    cfg = yaml.safe_load(data_yaml.read_text())
    assert cfg["names"] == {0: "person"} and cfg["test"] == "images/test"
    img = tmp_path / "d" / "images" / "train" / "pets09_s2l1_000001.jpg"
    assert img.is_symlink() and img.resolve() == (pets_dir / "img1" / "000001.jpg").resolve()
    lbl = tmp_path / "d" / "labels" / "train" / "pets09_s2l1_000001.txt"
    assert len(lbl.read_text().splitlines()) == len(frames[0].boxes)
    assert (tmp_path / "d" / "labels" / "val" / "pets09_s2l1_000007.txt").read_text() == ""
    manifest = ds.read_manifest(data_yaml)
    assert manifest["counts"]["val"] == {"images": 1, "boxes": 0, "background": 1}
    assert manifest["fingerprint"] == ds.fingerprint(splits)
    moved = {**splits, "test": [LabeledFrame("pets09_s2l1", 6, frames[5].image, frames[4].boxes)]}
    assert ds.fingerprint(moved) != manifest["fingerprint"]


def test_video_frames_are_decoded_at_their_index(tmp_path: Path, pets_dir: Path) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 7, (768, 576))
    originals = [cv2.imread(str(pets_dir / "img1" / f"{f:06d}.jpg")) for f in range(1, 6)]
    for img in originals:
        writer.write(img)
    writer.release()
    frames = ds.frames_from_mot(video, pets_dir / "gt" / "gt.txt", frames=(1, 5))
    assert all(fr.from_video for fr in frames)
    ds.write_dataset(tmp_path / "d", {"train": frames[3:4]}, {0: "person"})
    out = cv2.imread(str(tmp_path / "d" / "images" / "train" / "clip_000004.jpg"))
    diffs = [np.abs(out.astype(int) - o.astype(int)).mean() for o in originals]
    assert int(np.argmin(diffs)) == 3


def test_reference_plan_holds_out_gt_41_60(tmp_path: Path, pets_dir: Path) -> None:
    data_yaml = build_mot_dataset(pets_dir, tmp_path / "pets", MotPlan(teacher=(71, 120)))
    root = data_yaml.parent

    def frames(split: str) -> list[int]:
        return sorted(ds._frame_number(p) for p in (root / "images" / split).iterdir())

    assert frames("test") == list(range(41, 61))
    assert frames("val") == list(range(31, 41))
    train = frames("train")
    assert [f for f in train if f <= 60] == list(range(1, 31))
    assert min(f for f in train if f > 60) >= 71 and all(f % 2 for f in train if f > 60)
    test_boxes = sum(len(p.read_text().splitlines()) for p in (root / "labels/test").iterdir())
    assert test_boxes == 120  # gt boxes of frames 41-60


def test_label_record_roundtrip_feeds_training() -> None:
    rec = LabelRecord("cam1", 12, "/snap/12.jpg", (Box(0, 1, 2, 30, 40),), alert_id="a1")
    back = LabelRecord.from_json(json.loads(json.dumps(rec.to_json())))
    assert back == rec
    fr = back.to_labeled_frame()
    assert (fr.source, fr.frame, fr.boxes) == ("review", 12, rec.boxes)
    with pytest.raises(ValueError):
        LabeledFrame("v", 1, Path("x.jpg"), source="guess")


def test_import_data_cli_splits_by_time_and_reimports_as_yolo(tmp_path: Path, pets_dir: Path):
    from typer.testing import CliRunner

    from cli.main import app

    out = tmp_path / "mot"
    args = ["import-data", str(pets_dir), "--out", str(out), "--format", "mot", "--stride", "2"]
    res = CliRunner().invoke(app, [*args, "--val", "0.2", "--test", "0.2", "--gap", "3"])
    assert res.exit_code == 0, res.output
    manifest = ds.read_manifest(out / "data.yaml")
    counts = {s: c["images"] for s, c in manifest["counts"].items()}
    assert counts == {"train": 17, "val": 5, "test": 6}  # 30 sampled; the gap trims 35 and 47
    again = ds.frames_from_yolo(out / "images" / "test", nc=1)
    gt = read_mot(pets_dir / "gt" / "gt.txt")
    assert [fr.frame for fr in again] == list(range(49, 61, 2))
    for fr in again:
        clipped = [c for b in gt[fr.frame] if (c := b.clipped(768, 576))]
        want = np.array([[b.x1, b.y1, b.x2, b.y2] for b in clipped])
        got = np.array([[b.x1, b.y1, b.x2, b.y2] for b in fr.boxes])
        assert np.allclose(want, got, atol=0.01)


def test_split_frames_keeps_two_videos_same_frame_number_apart(
    tmp_path: Path, pets_dir: Path, gt: dict[int, list[Box]]
) -> None:
    img = lambda f: pets_dir / "img1" / f"{f:06d}.jpg"  # noqa: E731
    frames = [LabeledFrame("camA", 41, img(41), tuple(gt[41])), LabeledFrame("camB", 41, img(50))]
    data_yaml = ds.write_dataset(tmp_path / "d", {"test": frames}, {0: "person"})
    got = {fr.video: fr for fr in ds.split_frames(data_yaml, "test", "a check")}
    assert sorted(got) == ["camA_000041", "camB_000041"]
    assert len(got["camA_000041"].boxes) == len(gt[41]) > 0 and got["camB_000041"].boxes == ()
    a = np.array([[b.x1, b.y1, b.x2, b.y2] for b in got["camA_000041"].boxes])
    assert np.allclose(a, [[b.x1, b.y1, b.x2, b.y2] for b in gt[41]], atol=0.5)
    assert ds.dataset_names(data_yaml) == {0: "person"}
    with pytest.raises(FileNotFoundError, match="'val' split"):
        ds.split_frames(data_yaml, "val", "a check")


def test_label_files_that_are_not_utf8_text_or_not_coco_are_named(tmp_path: Path) -> None:
    mot = tmp_path / "gt.txt"
    mot.write_bytes(b"1,1,10,10,20,40,1,-1,-1,-1\n2,1,\xff\xfe,10,20,40,1,-1,-1,-1\n")
    with pytest.raises(LabelError, match=rf"{mot}: not UTF-8 text"):
        read_mot(mot)
    coco = tmp_path / "coco.json"
    coco.write_text("[]")
    with pytest.raises(LabelError, match=r"coco\.json:1: a COCO file is a JSON object, got list"):
        read_coco(coco)


def _import(*args: str) -> int:
    """``monitor import-data ARGS`` as the console script runs it; its exit status."""
    import sys

    from cli.main import main

    old, sys.argv = sys.argv, ["monitor", "import-data", *args]
    try:
        main()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        sys.argv = old
    return 0


def test_import_data_refuses_labels_that_hold_nothing(
    tmp_path: Path, pets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty MOT file, a missing or empty YOLO labels folder and class ids the names do not
    have stop the import with one line naming the file, and write no dataset."""
    img1 = pets_dir / "img1"
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    labels = tmp_path / "labels"
    labels.mkdir()
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    (labels / "000001.txt").write_text("3 0.5 0.5 0.1 0.2\n")
    cases = [
        (["--labels", str(empty)], f"error: {empty}: no boxes"),
        (["--format", "yolo", "--labels", str(tmp_path / "none")],
         f"error: YOLO labels folder not found: {tmp_path / 'none'}"),
        (["--format", "yolo", "--labels", str(nothing)],
         f"error: {nothing}: no YOLO label file for any image of {img1}"),
        (["--format", "yolo", "--labels", str(labels)], f"error: {labels / '000001.txt'}:1"),
    ]  # fmt: skip
    for extra, message in cases:
        out = tmp_path / "ds"
        code = _import(str(img1 if "yolo" in extra else pets_dir), "--out", str(out), *extra)
        err = capsys.readouterr().err
        assert code == 2 and err.startswith(message), (extra, err)
        assert len(err.strip().splitlines()) == 1 and not out.exists(), err
    code = _import(str(img1), "--out", str(tmp_path / "ok"), "--format", "yolo",
                      "--labels", str(labels), "--names", "person,bicycle,car,motorcycle")  # fmt: skip
    assert (
        code == 0 and ds.read_manifest(tmp_path / "ok" / "data.yaml")["names"]["3"] == "motorcycle"
    )


def test_a_video_opencv_cannot_read_is_named(tmp_path: Path) -> None:
    from monitor.sources import SourceError
    from training.distill import footage_frames

    bad = tmp_path / "camera.mp4"
    bad.write_bytes(b"\x00" * 4096)
    with pytest.raises(SourceError, match="camera.mp4: not a video OpenCV can read"):
        footage_frames(bad)
