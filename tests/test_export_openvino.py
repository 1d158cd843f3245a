"""`monitor export`'s OpenVINO INT8 IR: NNCF on real frames, names and imgsz inside, same people."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.types import Frame


def test_int8_ir_export_detects_the_pets_walkers(
    detector_weights: Path, pets_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    import cv2

    from monitor.detectors.openvino import OpenVinoConfig, OpenVinoDetector
    from monitor.detectors.ultralytics import UltralyticsConfig, UltralyticsDetector
    from training.evaluation import box_iou
    from training.export import export_openvino_int8

    frames = sorted((pets_dir / "img1").glob("*.jpg"))
    calib = [f for f in frames if int(f.stem) >= 71][::40]  # never the held-out gt block
    xml = export_openvino_int8(detector_weights, tmp_path / "m-int8-openvino.xml", calib, 416)
    assert xml.is_file() and xml.with_suffix(".bin").stat().st_size > 1e6
    det = OpenVinoDetector(OpenVinoConfig(weights=str(xml), device="cpu"))
    assert det.class_names == {0: "person"} and det.imgsz == 416 and det.dynamic_hw
    ref = UltralyticsDetector(UltralyticsConfig(weights=str(detector_weights), device="cpu"))
    found = total = 0
    for f in frames[40:60:4]:
        frame = Frame("pets", int(f.stem), 0.0, np.asarray(cv2.imread(str(f))))
        [a], [b] = det.detect([frame]), ref.detect([frame])
        total += len(b)
        if len(a) and len(b):
            found += int((box_iou(a.xyxy, b.xyxy).max(0) > 0.5).sum())
    assert total >= 20 and found / total >= 0.9, (found, total)
