"""The raw onnxruntime and OpenVINO backends against the ultralytics backend on real PETS frames.

Same promoted model at the size it was trained and exported at (416 or 480): most boxes must
match within 1 px (the .pt runs on a rect letterbox, 416x320 for a 4:3 frame, the fixed-shape
exports on a square, so some boxes move by a pixel or two) and the INT8 files must still find the
same objects.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from monitor.detectors import BACKENDS, create_detector
from monitor.detectors.onnx import OnnxConfig, _nms_numpy, decode, rect_hw
from monitor.detectors.ultralytics import UltralyticsConfig
from monitor.types import Detections, Frame


def _promoted_variant(name: str) -> str:
    """File name of the promoted detector's ``name`` export (``onnx-int8``, ``openvino-int8``)."""
    from monitor.registry import ModelRegistry

    reg = ModelRegistry()
    mv = reg.promoted()
    assert mv is not None and name in mv.variants, f"the promoted model has no {name} export"
    return reg.resolve_path(mv, name).name


@pytest.fixture(scope="module")
def pets_frames(pets_dir: Path) -> list[Frame]:
    """24 real frames spread over the whole PETS sequence (busy and quiet moments)."""
    import cv2

    files = sorted((pets_dir / "img1").glob("*.jpg"))[::33][:24]
    return [Frame("pets", i, i / 7, np.asarray(cv2.imread(str(f)))) for i, f in enumerate(files)]


@pytest.fixture(scope="module")
def reference(pets_frames: list[Frame]) -> list[Detections]:
    det = create_detector(UltralyticsConfig(device="cpu"))
    return [det.detect([f])[0] for f in pets_frames]


def _compare(dets: list[Detections], ref: list[Detections]) -> tuple[float, float]:
    """Share of the reference boxes found within 1 px (every coordinate), and found at IoU > 0.5."""
    from training.evaluation import box_iou

    close = found = total = 0
    for d, r in zip(dets, ref):
        total += len(r)
        if not len(d) or not len(r):
            continue
        iou = box_iou(r.xyxy, d.xyxy)
        best = iou.argmax(axis=1)
        hit = iou.max(axis=1) > 0.5
        gap = np.abs(r.xyxy - d.xyxy[best]).max(axis=1)
        found += int(hit.sum())
        close += int((hit & (gap <= 1.0)).sum())
    return close / max(total, 1), found / max(total, 1)


@pytest.mark.parametrize(
    ("backend", "weights", "min_same", "min_recall"),
    [
        ("onnx", None, 0.8, 0.97),  # measured 0.87 / 0.99 (coco6-student-v3)
        ("openvino", None, 0.8, 0.97),  # 0.87 / 0.99
        ("onnx", "onnx-int8", 0.6, 0.95),  # quantized: 0.78 / 0.995, boxes move by 1-2 px
    ],
)
def test_backend_matches_ultralytics(
    backend: str, weights: str | None, min_same: float, min_recall: float,
    pets_frames: list[Frame], reference: list[Detections],
) -> None:  # fmt: skip
    if backend == "openvino":
        pytest.importorskip("openvino")
    cfg_cls, _ = BACKENDS[backend]
    path = _promoted_variant(weights) if weights else None
    det = create_detector(cfg_cls(weights=path, device="cpu"))  # type: ignore[call-arg]
    dets = [det.detect([f])[0] for f in pets_frames]
    same, recall = _compare(dets, reference)
    assert sum(len(r) for r in reference) > 60  # the frames do show people
    assert same >= min_same, f"{backend} {weights}: {same:.0%} of boxes within 1 px"
    assert recall >= min_recall, f"{backend} {weights}: recall of ultralytics boxes {recall:.2f}"


def test_batch_equals_single_frames(pets_frames: list[Frame]) -> None:
    det = create_detector(OnnxConfig(device="cpu"))
    batched = det.detect(pets_frames[:4])
    for frame, b in zip(pets_frames[:4], batched):
        [single] = det.detect([frame])
        np.testing.assert_allclose(b.xyxy, single.xyxy, atol=1e-3)


def test_class_filter_and_decoding() -> None:
    """Decoding: centre-xywh to xyxy, best class, conf filter, per-class NMS, class filter."""
    out = np.zeros((4 + 2, 3), np.float32)  # 3 candidates, 2 classes
    out[:4, 0] = [50, 50, 20, 40]
    out[:4, 1] = [51, 50, 20, 40]  # overlaps the first: suppressed (same class)
    out[:4, 2] = [200, 200, 10, 10]
    out[4:, 0], out[4:, 1], out[4:, 2] = [0.9, 0.1], [0.8, 0.0], [0.0, 0.7]
    cfg = OnnxConfig(conf=0.25)
    xyxy, score, cls = decode(out, cfg, None)
    assert xyxy.tolist() == [[40, 30, 60, 70], [195, 195, 205, 205]]
    assert cls.tolist() == [0, 1] and np.allclose(score, [0.9, 0.7])
    assert decode(out, cfg, {1})[2].tolist() == [1]
    assert _nms_numpy(
        np.array([[0, 0, 10, 10], [0, 0, 10, 10.5]]), np.array([0.5, 0.6]), 0.7
    ).tolist() == [1]


@pytest.mark.gpu
def test_gpu_fp16_batch_across_cameras(pets_frames: list[Frame]) -> None:
    """GPU path: fp16, one batched forward for several cameras' frames, NMS on the GPU."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or os.environ.get("MONITOR_NO_GPU"):
        pytest.skip("no CUDA device")
    cams = [Frame(f"cam{i}", 0, 0.0, f.image) for i, f in enumerate(pets_frames[:8])]
    cpu = create_detector(UltralyticsConfig(device="cpu"))
    gpu = create_detector(UltralyticsConfig(device="cuda:0", half=True, batch=8))
    ref = [cpu.detect([f])[0] for f in cams]
    got = gpu.detect(cams)  # one forward pass, fp16, NMS on the GPU (ultralytics)
    same, recall = _compare(got, ref)
    assert recall >= 0.95 and same >= 0.5
    from monitor.detectors.onnx import nms

    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10.5], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.5, 0.6, 0.4], np.float32), np.zeros(3, np.int64), 0.7, "cuda:0")
    assert keep.tolist() == [1, 2]


@pytest.mark.gpu
def test_gpu_auto_backend_is_ultralytics_fp16_on_cuda(pets_frames: list[Frame]) -> None:
    """The default config on a GPU machine: ultralytics, CUDA, fp16, and the same people as CPU."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available() or os.environ.get("MONITOR_NO_GPU"):
        pytest.skip("no CUDA device")
    from monitor.detectors.auto import AutoConfig, gpu_present

    assert gpu_present(), "torch sees a GPU, but the NVIDIA driver check of backend auto does not"
    det = create_detector(AutoConfig())
    assert type(det).__name__ == "UltralyticsDetector"
    assert det.device == "cuda:0" and det.half  # type: ignore[attr-defined]
    cpu = create_detector(UltralyticsConfig(device="cpu"))
    frames = pets_frames[:16]
    same, recall = _compare(det.detect(frames), [cpu.detect([f])[0] for f in frames])
    assert recall >= 0.95 and same >= 0.5


def test_openvino_int8_rect_letterbox_matches_ultralytics(
    pets_frames: list[Frame], reference: list[Detections]
) -> None:
    """The INT8 IR (dynamic H x W) runs on ultralytics' rect letterbox (416x320 for a 4:3 frame at
    416) and finds the same people as the .pt through ultralytics."""
    pytest.importorskip("openvino")
    from monitor.detectors.openvino import OpenVinoConfig

    det = create_detector(OpenVinoConfig(precision="int8", device="cpu"))
    assert det.weights.name == _promoted_variant("openvino-int8")  # type: ignore[attr-defined]
    batch, _ = det.preprocess(pets_frames[:2])  # type: ignore[attr-defined]
    h, w = rect_hw(pets_frames[0].image.shape[:2], det.imgsz)  # type: ignore[attr-defined]
    assert w == det.imgsz and h < w  # type: ignore[attr-defined]
    assert batch.shape == (2, h, w, 3) and batch.dtype == np.uint8  # OpenVINO converts
    dets = [det.detect([f])[0] for f in pets_frames]
    same, recall = _compare(dets, reference)
    assert recall >= 0.97, f"INT8 recall of ultralytics boxes {recall:.2f}"  # measured 1.00
    assert same >= 0.8, f"INT8: {same:.0%} of boxes within 1 px"  # measured 91%


def test_openvino_compile_cache_is_reused_and_optional(
    pets_frames: list[Frame], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A second detector loads the compiled network from ``cache_dir`` and finds the same boxes;
    a cache folder that cannot be made only turns the cache off."""
    pytest.importorskip("openvino")
    from monitor.detectors.openvino import OpenVinoConfig

    def boxes(cache: Path) -> list[np.ndarray]:
        det = create_detector(OpenVinoConfig(precision="int8", device="cpu", cache_dir=str(cache)))
        return [d.xyxy for d in det.detect(pets_frames[:2])]

    cache = tmp_path / "ov"
    first = boxes(cache)
    blobs = sorted(cache.glob("*.blob"))
    assert len(blobs) == 1 and len(first[0]) >= 3  # one input shape compiled, people found
    again = boxes(cache)
    assert sorted(cache.glob("*.blob")) == blobs  # loaded from the cache, nothing compiled anew
    (tmp_path / "file").write_text("")
    with caplog.at_level("WARNING"):
        uncached = boxes(tmp_path / "file" / "ov")  # a file where a folder would go
    assert "compile cache off" in caplog.text
    for a, b, c in zip(first, again, uncached, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3)
        np.testing.assert_allclose(a, c, atol=1e-3)


def test_openvino_compile_cache_is_pruned_oldest_first(tmp_path: Path) -> None:
    from monitor.detectors.openvino import prune_cache

    for age, name in enumerate(["new", "mid", "old"]):  # 3 MB each, "old" written first
        blob = tmp_path / f"{name}.blob"
        blob.write_bytes(b"\0" * 3_000_000)
        os.utime(blob, (1e9 - age * 1000, 1e9 - age * 1000))
    (tmp_path / "notes.txt").write_text("not a network")
    assert [b.name for b in prune_cache(tmp_path, max_bytes=7_000_000)] == ["old.blob"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mid.blob", "new.blob", "notes.txt"]
    assert prune_cache(tmp_path, max_bytes=7_000_000) == []


def test_auto_backend_choice() -> None:
    """auto: OpenVINO INT8 on a CPU for a model with that export, ultralytics otherwise."""
    from monitor.detectors.auto import AutoConfig, choose

    if pytest.importorskip("openvino"):
        cpu = choose(AutoConfig(device="cpu"))
        assert cpu.backend == "openvino" and cpu.precision == "int8"  # type: ignore[attr-defined]
    assert choose(AutoConfig(device="cuda:0")).backend == "ultralytics"
    assert choose(AutoConfig(device="cpu", weights="coco6-student-v1")).backend == "ultralytics"
    assert choose(AutoConfig(device="cpu", precision="fp32")).backend == "openvino"
