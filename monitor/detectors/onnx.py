"""Raw onnxruntime backend for YOLO ONNX exports (``monitor export``): no ultralytics at run time.

Reproduces ultralytics' predict around the network so the boxes match its backend: letterbox to
the model's square input (grey 114), BGR -> RGB / 255, decoding of the ``(B, 4 + nc, N)`` output
(centre-xywh + class scores), per-class NMS (torchvision ``batched_nms``, numpy without torch),
``max_det``, and the boxes mapped back to the frame. Threads are set explicitly (onnxruntime would
take every core). The fp32 and INT8 files of one model take the same code.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from monitor.detectors.base import DetectorConfigBase, ModelNotFoundError, class_ids
from monitor.detectors.onnx_common import (
    OnnxDetectorConfig,
    Resized,
    create_session,
    resize,
)
from monitor.registry import DEFAULT_MODELS_DIR, resolve_model
from monitor.types import Detections, Frame

log = logging.getLogger(__name__)
MAX_WH = 7680.0  # ultralytics' class offset for per-class NMS in one call


class OnnxConfig(OnnxDetectorConfig):
    """YOLO ONNX export on plain onnxruntime; ``weights`` None = the promoted model's ``.onnx``."""

    backend: Literal["onnx"] = "onnx"


def yolo_onnx_path(weights: str | None, models_dir: Path | str, suffix: str = ".onnx") -> Path:
    """The ONNX file of ``weights``: a ``.pt`` (or registry version) maps to its exported sibling."""
    path = resolve_model(weights, "detector", models_dir)
    if path.suffix == ".pt":
        path = path.with_suffix(suffix)
    if not path.is_file():
        raise ModelNotFoundError(f"no ONNX export at {path} (run `monitor export`)")
    return path


def read_names(meta: Mapping[str, str]) -> dict[int, str]:
    """Class names from an ultralytics export's metadata (``names`` is a dict literal)."""
    raw = meta.get("names")
    if not raw:
        return {0: "person"}
    return {int(k): str(v) for k, v in ast.literal_eval(raw).items()}


def read_imgsz(meta: Mapping[str, str]) -> int | None:
    """The training/export input size an export records (``imgsz`` '[416, 416]' or '416')."""
    raw = meta.get("imgsz")
    if not raw:
        return None
    value = ast.literal_eval(raw)
    return int(max(value) if isinstance(value, list | tuple) else value)


def nms(
    xyxy: np.ndarray, scores: np.ndarray, groups: np.ndarray, iou: float, device: str = "cpu"
) -> np.ndarray:
    """Indices kept by per-group NMS, best first: torchvision on CUDA, numpy on CPU.

    After the confidence filter a CPU frame has tens to hundreds of candidates, where numpy is as
    fast as torchvision and spares the process torchvision's multi-second import.
    """
    offset = xyxy + groups[:, None].astype(np.float32) * MAX_WH
    if not device.startswith("cuda"):
        return _nms_numpy(offset, scores, iou)
    import torch
    from torchvision.ops import nms as tv_nms

    keep = tv_nms(
        torch.as_tensor(offset, dtype=torch.float32, device=device),
        torch.as_tensor(scores, dtype=torch.float32, device=device),
        iou,
    )
    return np.asarray(keep.cpu().numpy())


def _nms_numpy(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    keep: list[int] = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        lt = np.maximum(xyxy[i, :2], xyxy[rest, :2])
        rb = np.minimum(xyxy[i, 2:], xyxy[rest, 2:])
        inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
        order = rest[inter / (area[i] + area[rest] - inter + 1e-9) <= iou]
    return np.asarray(keep, np.int64)


def decode(
    out: np.ndarray, cfg: DetectorConfigBase, keep: set[int] | None, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's ``(4 + nc, N)`` output -> network-pixel xyxy, scores, classes after NMS."""
    pred = out.T  # (N, 4 + nc)
    cls_scores = pred[:, 4:]
    cls = cls_scores.argmax(1)
    score = cls_scores[np.arange(len(cls)), cls]
    mask = score > cfg.conf
    if keep is not None:
        mask &= np.isin(cls, list(keep))
    pred, score, cls = pred[mask], score[mask], cls[mask]
    xyxy = np.empty((len(pred), 4), np.float32)
    xyxy[:, :2] = pred[:, :2] - pred[:, 2:4] / 2
    xyxy[:, 2:] = pred[:, :2] + pred[:, 2:4] / 2
    if not len(xyxy):
        return xyxy, score, cls
    groups = np.zeros_like(cls) if cfg.agnostic_nms else cls
    kept = nms(xyxy, score, groups, cfg.iou, device)[: cfg.max_det]
    return xyxy[kept], score[kept], cls[kept]


class YoloRawDetector:
    """YOLO export on a raw runtime; subclasses override ``_load`` and ``_forward`` only.

    Example:
        >>> det = OnnxDetector(OnnxConfig())  # the promoted model's .onnx
        >>> [d] = det.detect([Frame("cam", 0, 0.0, np.full((240, 320, 3), 114, np.uint8))])
        >>> len(d), d.class_names[0]
        (0, 'person')
    """

    suffix = ".onnx"
    bgr_u8_input = False  # True: the runtime takes letterboxed BGR uint8 NHWC and converts itself

    def __init__(
        self, cfg: OnnxDetectorConfig, models_dir: Path | str = DEFAULT_MODELS_DIR
    ) -> None:
        self.cfg = cfg
        self.weights = self._resolve(cfg, models_dir)
        self.device = "cpu"
        self.dynamic_hw = False  # True: the export takes any H x W (rect letterbox per frame size)
        meta = self._load(self.weights, cfg)
        self.class_names = read_names(meta)
        self.imgsz = cfg.imgsz or read_imgsz(meta) or 640
        if self.dynamic_hw:
            self.input_hw = (self.imgsz, self.imgsz)
        self.keep = class_ids(cfg.classes, self.class_names, self.weights.name)
        log.info(
            "detector %s (%s, %d threads)", self.weights.name, type(self).__name__, cfg.threads
        )

    def _resolve(self, cfg: OnnxDetectorConfig, models_dir: Path | str) -> Path:
        """The export file this backend runs."""
        return yolo_onnx_path(cfg.weights, models_dir, self.suffix)

    def _load(self, weights: Path, cfg: OnnxDetectorConfig) -> Mapping[str, str]:
        """Open the runtime; returns the export metadata and sets ``input_hw``/``fixed_batch``."""
        self.session = create_session(weights, cfg.threads, cfg.device)
        if "CUDAExecutionProvider" in self.session.get_providers():
            self.device = "cuda:0"
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_hw = _hw(inp.shape, self.cfg.imgsz)
        self.fixed_batch = isinstance(inp.shape[0], int)
        self.dynamic_hw = not all(isinstance(d, int) and d > 0 for d in inp.shape[2:])
        meta: Mapping[str, str] = self.session.get_modelmeta().custom_metadata_map
        return meta

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        """``(B, 3, H, W)`` fp32 -> ``(B, 4 + nc, N)``."""
        out: np.ndarray = self.session.run(None, {self.input_name: batch})[0]
        return out

    def preprocess(self, frames: Sequence[Frame]) -> tuple[np.ndarray, list[Resized]]:
        """Letterbox, BGR -> RGB, HWC -> CHW, / 255: the network input of a batch.

        An export with dynamic H x W gets ultralytics' rect letterbox (long side ``imgsz``, short
        side padded to a multiple of 32: 416 x 320 for a 4:3 frame) when the batch's frames share
        one size: fewer pixels than the square, and the boxes ``yolo predict`` gets.
        """
        h, w = self.input_hw
        sizes = {f.image.shape[:2] for f in frames}
        if self.dynamic_hw and len(sizes) == 1:
            h, w = rect_hw(sizes.pop(), self.imgsz)
        sized = [resize(f.image, w, h, letterbox=True) for f in frames]
        if self.bgr_u8_input:  # the runtime converts (OpenVINO's pre-processing, in the graph)
            return np.stack([s.image for s in sized]), sized
        batch = np.stack([s.image[..., ::-1].transpose(2, 0, 1) for s in sized])
        return np.ascontiguousarray(batch, np.float32) / 255.0, sized

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """The network on a batch, one image per call where the export fixes batch 1."""
        if self.fixed_batch:
            return np.concatenate([self._forward(batch[i : i + 1]) for i in range(len(batch))])
        return self._forward(batch)

    def postprocess(
        self, outs: np.ndarray, sized: Sequence[Resized], frames: Sequence[Frame]
    ) -> list[Detections]:
        """Decode + NMS per image, boxes mapped back to each frame."""
        results = []
        for out, rs, frame in zip(outs, sized, frames):
            xyxy, score, cls = decode(out, self.cfg, self.keep, self.device)
            if not len(xyxy):
                results.append(Detections.empty(self.class_names))
                continue
            boxes = rs.unmap(xyxy, frame.shape)
            results.append(Detections(boxes, score, cls.astype(np.int64), None, self.class_names))
        return results

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Detect objects in a batch of frames; one ``Detections`` per frame."""
        if not frames:
            return []
        batch, sized = self.preprocess(frames)
        return self.postprocess(self.infer(batch), sized, frames)


def rect_hw(shape: tuple[int, int], imgsz: int, stride: int = 32) -> tuple[int, int]:
    """ultralytics' rect letterbox size for a frame of ``shape`` (h, w) at ``imgsz``.

    Example:
        >>> rect_hw((576, 768), 416), rect_hw((240, 360), 416), rect_hw((416, 416), 416)
        ((320, 416), (288, 416), (416, 416))
    """
    r = min(imgsz / shape[0], imgsz / shape[1])
    nh, nw = round(shape[0] * r), round(shape[1] * r)
    return nh + (imgsz - nh) % stride, nw + (imgsz - nw) % stride


def _hw(shape: Sequence[Any], imgsz: int | None) -> tuple[int, int]:
    """Network input (h, w): the export's static size, else ``imgsz`` (default 640)."""
    h, w = shape[2], shape[3]
    if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
        return h, w
    return (imgsz or 640, imgsz or 640)


class OnnxDetector(YoloRawDetector):
    """YOLO ONNX export on onnxruntime (CPU, or CUDA where the build has it)."""
