"""`monitor export`'s OpenVINO INT8 IR: NNCF on real frames, names and imgsz inside, same people
as the .pt, far (PETS walkers) and near (the demo clip's man, lost when the head was quantized)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.types import Frame


def _sample_frames(step: int = 24) -> list[Frame]:
    """Every ``step``-th frame of the packaged demo clip: one man close to the camera."""
    from importlib import resources

    import cv2

    path = resources.files("monitor.assets") / "sample.mp4"  # a plain file in the package
    cap, i = cv2.VideoCapture(str(path)), 0
    out: list[Frame] = []
    while True:
        ok, image = cap.read()
        if not ok:
            return out
        if i % step == 0:
            out.append(Frame("sample", i, i / 10, image))
        i += 1


def test_int8_ir_export_detects_near_and_far_people(
    detector_weights: Path, pets_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    import cv2

    from monitor.detectors.openvino import OpenVinoConfig, OpenVinoDetector
    from monitor.detectors.ultralytics import UltralyticsConfig, UltralyticsDetector
    from training.export import export_openvino_int8

    frames = sorted((pets_dir / "img1").glob("*.jpg"))
    calib = [f for f in frames if int(f.stem) >= 71][::40]  # never the held-out gt block
    xml = export_openvino_int8(detector_weights, tmp_path / "m-int8-openvino.xml", calib, 416)
    assert xml.is_file() and xml.with_suffix(".bin").stat().st_size > 1e6
    det = OpenVinoDetector(OpenVinoConfig(weights=str(xml), device="cpu"))
    ref = UltralyticsDetector(UltralyticsConfig(weights=str(detector_weights), device="cpu"))
    assert det.class_names == ref.class_names and det.imgsz == 416 and det.dynamic_hw
    pets = [
        Frame("pets", int(f.stem), 0.0, np.asarray(cv2.imread(str(f)))) for f in frames[40:60:4]
    ]
    for name, clip, need in [("pets", pets, 20), ("sample", _sample_frames(), 9)]:
        found, total = _found(det, ref, clip)
        assert total >= need and found / total >= 0.9, (name, found, total)


def _found(det: object, ref: object, frames: list[Frame]) -> tuple[int, int]:
    """Boxes of ``ref`` that ``det`` finds too (IoU > 0.5), and how many ``ref`` has."""
    from training.evaluation import box_iou

    found = total = 0
    for frame in frames:
        [a], [b] = det.detect([frame]), ref.detect([frame])  # type: ignore[attr-defined]
        total += len(b)
        if len(a) and len(b):
            found += int((box_iou(a.xyxy, b.xyxy).max(0) > 0.5).sum())
    return found, total
