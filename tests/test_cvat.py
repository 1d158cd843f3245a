"""CVAT XML labels: hand-written fixtures from real PETS09 gt parse to the same boxes as gt.txt."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.cvat import read_cvat
from training.labels import LabelError, read_mot

FIXTURES = Path(__file__).parent / "fixtures"


def _coords(boxes: list) -> list[tuple[int, float, float, float, float]]:
    return sorted(
        (b.cls, round(b.x1, 3), round(b.y1, 3), round(b.x2, 3), round(b.y2, 3)) for b in boxes
    )


@pytest.fixture(scope="module")
def gt(pets_dir: Path) -> dict:
    return read_mot(pets_dir / "gt" / "gt.txt")


def test_image_task_matches_gt(gt: dict) -> None:
    labels = read_cvat(FIXTURES / "pets09_gt_1-3_cvat_images.xml")
    assert labels.names == {0: "person", 1: "car"}
    assert sorted(labels.images) == ["000001.jpg", "000002.jpg", "000003.jpg"]
    for f in (1, 2, 3):
        assert _coords(labels.images[f"{f:06d}.jpg"]) == _coords(gt[f])


def test_video_task_matches_gt_and_skips_outside(gt: dict) -> None:
    labels = read_cvat(FIXTURES / "pets09_gt_1-3_cvat_video.xml")
    assert sorted(labels.frames) == [0, 1, 2]  # frame 3 is outside="1" for every track
    for f in (1, 2, 3):
        assert _coords(labels.frames[f - 1]) == _coords(gt[f])


def test_names_map_to_caller_ids() -> None:
    coco = {0: "person", 2: "car"}
    labels = read_cvat(FIXTURES / "pets09_gt_1-3_cvat_images.xml", coco)
    assert {b.cls for boxes in labels.images.values() for b in boxes} == {0}
    assert (
        read_cvat(FIXTURES / "pets09_gt_1-3_cvat_images.xml", {2: "car"}).images["000001.jpg"] == []
    )


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<annotations><image id='0'/></annotations>", "has no name"),
        ("<annotations><image name='a.jpg'><box label='p' xtl='1' ytl='1' xbr='x' ybr='2'/></image>"
         "</annotations>", "numeric"),
        ("<annotations><image name='a.jpg'><box label='p' xtl='5' ytl='1' xbr='2' ybr='2'/></image>"
         "</annotations>", "no area"),
        ("<annotations><image", "not valid XML"),
    ],
)  # fmt: skip
def test_bad_files_name_the_problem(tmp_path: Path, xml: str, message: str) -> None:
    path = tmp_path / "a.xml"
    path.write_text(xml)
    with pytest.raises(LabelError, match=message):
        read_cvat(path)


def test_labels_naming_none_of_the_models_classes_are_refused(pets_dir: Path) -> None:
    """CVAT boxes whose label is none of the model's classes are counted, and a file where no box
    is left stops the import instead of training on background only."""
    from training.finetune import labels_for

    xml = FIXTURES / "pets09_gt_1-3_cvat_images.xml"
    labels = read_cvat(xml, {2: "car"})
    assert labels.skipped == {"person": 9}
    with pytest.raises(LabelError, match=r"labels not among the model's classes: person x9"):
        labels_for(pets_dir, xml, {2: "car"})
    frames = labels_for(pets_dir, xml, {0: "person", 2: "car"})
    assert [f.frame for f in frames] == [1, 2, 3] and all(f.boxes for f in frames)
