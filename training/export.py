"""Export a detector to ONNX (fp32 via ultralytics, INT8 via onnxruntime) and OpenVINO INT8 (NNCF).

An export is registered only if its detections match the ``.pt`` model's on real frames; the INT8
variant's accuracy and CPU speed are measured next to fp32 so the trade-off is a number.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monitor.runtime import configure_offline


@dataclass(frozen=True)
class MatchReport:
    """How well an export's detections match the reference model's on the same frames."""

    frames: int
    reference_boxes: int
    matched: int
    extra: int
    max_conf_diff: float
    min_iou: float

    @property
    def recall(self) -> float:
        """Share of reference boxes found by the export."""
        return self.matched / self.reference_boxes if self.reference_boxes else 1.0


def export_onnx(weights: str | Path, out: str | Path, imgsz: int = 416) -> Path:
    """fp32 ONNX of ``weights`` at ``out`` (static ``1x3ximgszximgsz`` input, simplified)."""
    configure_offline()
    from ultralytics import YOLO

    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / Path(weights).name
        shutil.copy2(weights, src)
        exported = YOLO(str(src)).export(format="onnx", imgsz=imgsz, simplify=True, dynamic=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(exported), out)
    return out


def letterbox_batch(images: Sequence[Path], imgsz: int) -> Iterator[np.ndarray]:
    """``(1, 3, imgsz, imgsz)`` float32 RGB inputs in [0, 1], letterboxed like ultralytics."""
    import cv2

    for p in images:
        img = cv2.imread(str(p))
        if img is None:
            raise ValueError(f"cannot read image {p}")
        h, w = img.shape[:2]
        r = min(imgsz / h, imgsz / w)
        nh, nw = round(h * r), round(w * r)
        canvas = np.full((imgsz, imgsz, 3), 114, np.uint8)
        top, left = (imgsz - nh) // 2, (imgsz - nw) // 2
        canvas[top : top + nh, left : left + nw] = cv2.resize(img, (nw, nh))
        yield (canvas[:, :, ::-1].transpose(2, 0, 1)[None] / 255.0).astype(np.float32)


def quantize_int8(
    onnx_fp32: str | Path, out: str | Path, calib_images: Sequence[Path], imgsz: int = 416
) -> Path:
    """Static INT8 (QDQ, per-channel weights) ONNX calibrated on real frames.

    The detection head's last nodes (box decoding and concatenation) stay in float: quantizing
    pixel coordinates and scores together in one tensor ruins the boxes.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self, name: str) -> None:
            self.it = ({name: x} for x in letterbox_batch(calib_images, imgsz))

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.it, None)

    model = onnx.load(str(onnx_fp32))
    input_name = model.graph.input[0].name
    head = _head_nodes(model)
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(onnx_fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(out),
            _Reader(input_name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=head,
        )
    return Path(out)


def export_openvino_int8(
    weights: str | Path, out_xml: str | Path, calib_images: Sequence[Path], imgsz: int = 416
) -> Path:
    """INT8 OpenVINO IR of ``weights`` (dynamic H x W), calibrated on real frames with NNCF.

    ultralytics exports the float IR (``format=openvino, dynamic=True``); NNCF's mixed preset then
    quantizes the backbone and neck but leaves the whole Detect head in float: with its class
    convolutions quantized, a multi-class student lost every close-up person (best score 0.75 ->
    0.22 on the demo clip) while the backbone alone in INT8 keeps them. The IR is written as
    ``out_xml`` + ``.bin`` with the class names in its ``rt_info`` so the backend needs no side file.
    """
    configure_offline()
    import nncf
    import openvino as ov
    from ultralytics import YOLO

    out_xml = Path(out_xml)
    yolo = YOLO(str(weights))
    names, head = dict(yolo.names), len(yolo.model.model) - 1  # type: ignore[union-attr, arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / Path(weights).name
        shutil.copy2(weights, src)
        folder = YOLO(str(src)).export(format="openvino", dynamic=True, imgsz=imgsz, batch=1)
        model = ov.Core().read_model(str(next(Path(folder).glob("*.xml"))))
    images = [p for p in calib_images if Path(p).is_file()]
    if not images:
        raise ValueError(f"no calibration images for the INT8 export of {weights}")
    model = nncf.quantize(
        model, nncf.Dataset(images, lambda p: next(letterbox_batch([p], imgsz))),
        preset=nncf.QuantizationPreset.MIXED, subset_size=len(images),
        ignored_scope=nncf.IgnoredScope(patterns=[rf".*model\.{head}[./].*"]),
    )  # fmt: skip
    model.set_rt_info(str(names), ["model_info", "names"])
    model.set_rt_info(str(imgsz), ["model_info", "imgsz"])
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(out_xml), compress_to_fp16=False)
    return out_xml


def _head_nodes(model: object) -> list[str]:
    """Nodes of the Detect head's decoding (DFL, anchors, concat): all but its cv2/cv3 convs.

    The head is the module of the graph's last node (``/model.22/`` for YOLOv8n).
    """
    nodes = list(model.graph.node)  # type: ignore[attr-defined]
    head = "/".join(nodes[-1].name.split("/")[:2]) + "/"
    return [
        n.name
        for n in nodes
        if n.name.startswith(head) and "/cv2." not in n.name and "/cv3." not in n.name
    ]


def _raw_outputs(weights: str | Path, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``(1, 4 + nc, anchors)`` head outputs of a ``.pt`` (torch) or ``.onnx`` (onnxruntime)."""
    if str(weights).endswith(".onnx"):
        import onnxruntime as ort

        sess = ort.InferenceSession(str(weights), providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return [sess.run(None, {name: x})[0] for x in inputs]
    import torch
    from ultralytics import YOLO

    model: Any = YOLO(str(weights)).model
    model = model.float().fuse().eval()
    with torch.no_grad():
        return [model(torch.from_numpy(x))[0].numpy() for x in inputs]


def compare_detections(
    reference: str | Path,
    candidate: str | Path,
    images: Sequence[Path],
    imgsz: int = 416,
    conf: float = 0.25,
) -> MatchReport:
    """Match ``candidate``'s boxes to ``reference``'s on identical letterboxed inputs.

    Both models see the same ``imgsz`` square tensors and the same NMS, so any difference is the
    export's (ultralytics' own predict pads ``.pt`` inputs differently from a static ONNX).
    """
    configure_offline()
    import torch
    from ultralytics.utils.nms import non_max_suppression

    from training.evaluation import box_iou

    inputs = list(letterbox_batch(images, imgsz))
    ref, cand = _raw_outputs(reference, inputs), _raw_outputs(candidate, inputs)
    n_ref = matched = extra = 0
    max_diff, min_iou = 0.0, 1.0
    for r, c in zip(ref, cand, strict=True):
        a = non_max_suppression(torch.from_numpy(r), conf, 0.7)[0].numpy()
        b = non_max_suppression(torch.from_numpy(c), conf, 0.7)[0].numpy()
        n_ref += len(a)
        iou = box_iou(a[:, :4], b[:, :4]) if len(a) and len(b) else np.zeros((len(a), len(b)))
        free = np.ones(len(b), dtype=bool)
        for i in np.argsort(-a[:, 4]):
            cand_iou = np.where(free, iou[i], -1.0)
            j = int(np.argmax(cand_iou)) if len(cand_iou) else -1
            if j >= 0 and cand_iou[j] >= 0.5:
                free[j] = False
                matched += 1
                min_iou = min(min_iou, float(iou[i, j]))
                max_diff = max(max_diff, abs(float(a[i, 4]) - float(b[j, 4])))
        extra += int(free.sum())
    return MatchReport(len(images), n_ref, matched, extra, round(max_diff, 4), round(min_iou, 4))


def onnx_latency_ms(
    onnx_path: str | Path, images: Sequence[Path], imgsz: int = 416, threads: int = 2, runs: int = 3
) -> float:
    """Median per-frame latency (ms) of a plain onnxruntime CPU session over ``images``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    inputs = list(letterbox_batch(images, imgsz))
    sess.run(None, {name: inputs[0]})  # warm-up
    times = []
    for _ in range(runs):
        for x in inputs:
            t0 = time.perf_counter()
            sess.run(None, {name: x})
            times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)
