"""Detector: the project's trained model on real PETS09 frames; offline model resolution."""

from __future__ import annotations

import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from monitor.detectors.ultralytics import UltralyticsConfig as ModelConfig
from monitor.detectors.ultralytics import UltralyticsDetector as Detector
from monitor.registry import ModelNotFoundError
from monitor.registry import resolve_model as resolve_weights
from monitor.schema import ConfigError
from monitor.types import Frame


@pytest.fixture(scope="module")
def detector(detector_weights: Path) -> Detector:
    return Detector(ModelConfig(weights=str(detector_weights), conf=0.25, batch=4))


def _frames(pets_dir: Path, numbers) -> list[Frame]:
    return [
        Frame("pets", n - 1, (n - 1) / 7, cv2.imread(str(pets_dir / "img1" / f"{n:06d}.jpg")))
        for n in numbers
    ]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


def test_detects_the_people_of_held_out_gt_frames(detector: Detector, pets_dir, gt_tracks) -> None:
    # Frames 41-60 are the held-out block no training step saw.
    numbers = [45, 50, 55, 60]
    dets = detector.detect(_frames(pets_dir, numbers))
    matched = total = 0
    for n, d in zip(numbers, dets):
        gt = gt_tracks[n - 1][1]
        assert len(d) > 0
        assert (d.xyxy[:, 2] > d.xyxy[:, 0]).all() and (d.xyxy[:, 3] > d.xyxy[:, 1]).all()
        assert (
            (d.xyxy >= -1).all()
            and (d.xyxy[:, [0, 2]] <= 769).all()
            and (d.xyxy[:, [1, 3]] <= 577).all()
        )
        assert ((d.confidence >= 0.25) & (d.confidence <= 1)).all()
        names = np.array(d.names)
        # The parked van and car at the top right are the only vehicles in the scene.
        vehicles = d.xyxy[np.isin(names, ["car", "truck", "bus"])]
        assert len(vehicles) and (vehicles[:, 0] > 600).all() and (vehicles[:, 3] < 110).all()
        assert set(d.names) <= {"person", "car", "truck", "bus"}
        iou = _iou(gt.xyxy, d.xyxy[names == "person"])
        matched += int((iou.max(axis=1) >= 0.5).sum())
        total += len(gt)
    assert matched / total >= 0.7, f"recall@0.5 {matched}/{total}"


def test_batched_equals_single_frame_inference(detector: Detector, pets_dir) -> None:
    frames = _frames(pets_dir, [45, 46, 47])
    batched = detector.detect(frames)
    for f, b in zip(frames, batched):
        [single] = detector.detect([f])
        assert len(single) == len(b)
        np.testing.assert_allclose(single.xyxy, b.xyxy, atol=1.0)


def test_class_filter_and_unknown_class(detector_weights: Path) -> None:
    with pytest.raises(ConfigError, match="model.classes"):
        Detector(ModelConfig(weights=str(detector_weights), classes=["unicorn"]))


def test_missing_weights_fail_clearly_without_network(tmp_path: Path, monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    for name in ("yolo11n.pt", str(tmp_path / "nope.pt")):
        with pytest.raises(ModelNotFoundError) as exc:
            resolve_weights(name, models_dir=tmp_path)
        assert Path(name).name in str(exc.value) and "--weights" in str(exc.value)
    with pytest.raises(ModelNotFoundError, match="no promoted detector"):
        resolve_weights(None, models_dir=tmp_path)
