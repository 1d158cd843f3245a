"""Sliced inference: windows cover the frame, merging removes duplicates, small people are found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.config import MonitorConfig
from monitor.detectors import create_detector
from monitor.detectors.nanodet import NanoDetConfig
from monitor.detectors.tiling import TiledDetector, TilingConfig, merge, tile_windows
from monitor.types import Detections, Frame
from training.evaluation import match
from training.labels import Box, read_mot


@pytest.mark.parametrize(
    ("h", "w", "tile", "overlap", "n"),
    [
        (576, 768, 320, 0.2, 6),
        (300, 300, 640, 0.2, 1),
        (1152, 1536, 640, 0.2, 6),
        (100, 1000, 100, 0.0, 10),
    ],
)
def test_windows_cover_the_frame(h: int, w: int, tile: int, overlap: float, n: int) -> None:
    windows = tile_windows(h, w, tile, overlap)
    assert len(windows) == n
    covered = np.zeros((h, w), bool)
    for x1, y1, x2, y2 in windows:
        assert x2 - x1 <= tile and y2 - y1 <= tile
        covered[y1:y2, x1:x2] = True
    assert covered.all()


def test_merge_drops_duplicates_and_partial_boxes() -> None:
    dets = Detections(
        np.array([[0, 0, 10, 20], [1, 0, 11, 20], [0, 0, 10, 9], [0, 0, 10, 20], [50, 50, 60, 60]],
                 np.float32),
        np.array([0.9, 0.8, 0.7, 0.6, 0.5], np.float32),
        np.array([0, 0, 0, 2, 0]),
        class_names={0: "person", 2: "car"},
    )  # fmt: skip
    kept = merge(dets, iou=0.5, ios=0.8)
    # duplicate (IoU) and partial (inside) person boxes go; the car and the far person stay
    assert kept.xyxy[:, 0].tolist() == [0, 0, 50] and kept.class_id.tolist() == [0, 2, 0]


def test_config_switch_and_per_camera(pets_dir: Path) -> None:
    cfg = MonitorConfig.model_validate(
        {
            "model": {
                "backend": "nanodet",
                "tiling": {"enabled": True, "tile": 640, "cameras": ["far"]},
            }
        }
    )
    det = create_detector(cfg.model)
    assert isinstance(det, TiledDetector) and det.class_names[0] == "person"
    assert not isinstance(create_detector(NanoDetConfig()), TiledDetector)
    import cv2

    image = cv2.imread(str(pets_dir / "img1" / "000001.jpg"))
    calls: list[int] = []
    inner_detect = det.inner.detect
    det.inner.detect = lambda frames: calls.append(len(frames)) or inner_detect(frames)  # type: ignore[method-assign]
    det.detect([Frame("near", 0, 0.0, image)])
    det.detect([Frame("far", 0, 0.0, image)])
    assert calls == [1, 3]  # untiled camera: one pass; tiled: 2 tiles + the full frame


def _mosaic(pets_dir: Path, frames: tuple[int, ...]) -> tuple[np.ndarray, list[Box]]:
    """A 1536x1152 frame of four real PETS frames: people ~23 px tall at the detector's 416."""
    import cv2

    gt = read_mot(pets_dir / "gt" / "gt.txt")
    imgs = [cv2.imread(str(pets_dir / "img1" / f"{f:06d}.jpg")) for f in frames]
    canvas = np.vstack([np.hstack(imgs[:2]), np.hstack(imgs[2:])])
    boxes = [
        Box(0, b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy)
        for f, (dx, dy) in zip(frames, [(0, 0), (768, 0), (0, 576), (768, 576)], strict=True)
        for b in gt[f]
    ]
    return canvas, boxes


def test_tiling_finds_at_least_as_many_people(pets_dir: Path) -> None:
    image, truth = _mosaic(pets_dir, (1, 16, 31, 46))
    found = {}
    for name, tiling in (("full", TilingConfig()), ("tiled", TilingConfig(enabled=True, tile=640))):
        det = create_detector(NanoDetConfig(conf=0.3, classes=["person"], tiling=tiling))
        [d] = det.detect([Frame("cam", 0, 0.0, image)])
        preds = [
            Box(0, *map(float, b), float(s)) for b, s in zip(d.xyxy, d.confidence, strict=True)
        ]
        found[name] = int(match(truth, preds)[:, 0].sum())
    assert found["tiled"] >= found["full"] and found["tiled"] >= 0.7 * len(truth)
