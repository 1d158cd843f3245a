"""What the plain-onnxruntime COCO backends (NanoDet, CenterNet) share.

Session creation with explicit thread counts (onnxruntime otherwise takes every core), the resize
to the network input and back, the COCO-80 class names, and class filter + NMS + ``max_det`` into
``Detections``. onnxruntime and torch are imported inside the functions that need them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from monitor.detectors.base import DetectorConfigBase, ModelNotFoundError, class_ids
from monitor.registry import DEFAULT_MODELS_DIR, resolve_model
from monitor.schema import ConfigError
from monitor.types import Detections, Frame

log = logging.getLogger(__name__)

_COCO = (
    "person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant "
    "stop_sign parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe "
    "backpack umbrella handbag tie suitcase frisbee skis snowboard sports_ball kite baseball_bat "
    "baseball_glove skateboard surfboard tennis_racket bottle wine_glass cup fork knife spoon bowl "
    "banana apple sandwich orange broccoli carrot hot_dog pizza donut cake chair couch "
    "potted_plant bed dining_table toilet tv laptop mouse remote keyboard cell_phone microwave "
    "oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier toothbrush"
)
COCO_NAMES: dict[int, str] = {i: n.replace("_", " ") for i, n in enumerate(_COCO.split())}
"""The 80 COCO classes with ultralytics' ids and names (0 = person)."""


class OnnxDetectorConfig(DetectorConfigBase):
    """Fields of the onnxruntime backends beyond the common ones.

    ``batch`` and ``half`` are accepted for config compatibility only: the converted ONNX files
    take one fp32 frame per forward pass.
    """

    threads: int = Field(
        2, ge=1, le=64, description="onnxruntime intra-op threads (the default takes every core)."
    )
    letterbox: bool = Field(
        True,
        description="Keep the aspect ratio (grey borders); False stretches to the network size "
        "(PETS person AP50 ~0.01 lower, see models/TEACHERS.md).",
    )


class OnnxCocoDetector:
    """Set-up the single-frame COCO ONNX teachers share: session, input size, class filter.

    Subclasses name their default weights and input layout and decode one image.
    """

    default_weights: ClassVar[str] = ""
    channels_first: ClassVar[bool] = True  # NCHW input; False = NHWC

    def __init__(
        self, cfg: OnnxDetectorConfig, models_dir: Path | str = DEFAULT_MODELS_DIR
    ) -> None:
        self.cfg = cfg
        self.weights = resolve_weights(cfg.weights, self.default_weights, models_dir)
        self.session = create_session(self.weights, cfg.threads, cfg.device)
        inp = self.session.get_inputs()[0]
        self.input_name: str = inp.name
        dims = inp.shape[2:4] if self.channels_first else inp.shape[1:3]
        self.input_hw: tuple[int, int] = (int(dims[0]), int(dims[1]))
        if cfg.imgsz is not None and (cfg.imgsz, cfg.imgsz) != self.input_hw:
            raise ConfigError(f"model.imgsz: {self.weights.name} takes {self.input_hw} only")
        self.class_names = COCO_NAMES
        self.keep = class_ids(cfg.classes, COCO_NAMES, self.weights.name)
        log.info("%s on %s, %d threads", type(self).__name__, self.weights.name, cfg.threads)

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Detect objects in each frame; boxes in the frame's own pixels."""
        return [self.detect_image(f.image) for f in frames]

    def detect_image(self, image: np.ndarray) -> Detections:
        """One BGR image through the network and its decoding."""
        raise NotImplementedError


def create_session(weights: Path, threads: int, device: str) -> Any:
    """An onnxruntime session on ``device`` ('auto', 'cpu', 'cuda:N') with ``threads`` threads.

    'auto' takes CUDA when this onnxruntime build has it (asked of onnxruntime, not torch).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    providers: list[Any] = ["CPUExecutionProvider"]
    cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device.startswith("cuda") or (device == "auto" and cuda):
        if not cuda:
            raise ConfigError(f"model.device: {device} asked, but onnxruntime has no CUDA provider")
        index = int(device.partition(":")[2] or 0)
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
    try:
        return ort.InferenceSession(str(weights), opts, providers=providers)
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own kinds for a bad file
        raise ModelNotFoundError.unreadable(
            weights, "an ONNX model onnxruntime can read", err
        ) from None


def resolve_weights(weights: str | None, default: str, models_dir: Path | str) -> Path:
    """``weights`` (path, models/ file or registry version), or ``default`` in ``models_dir``."""
    return resolve_model(weights or default, "detector", models_dir)


@dataclass(frozen=True)
class Resized:
    """A frame scaled to the network input: ``x_net = x * scale + pad`` per axis (x, y)."""

    image: np.ndarray
    scale: tuple[float, float]
    pad: tuple[float, float]

    def unmap(self, xyxy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """``(N, 4)`` network-input boxes mapped back to the frame and clipped to ``shape``."""
        out = np.asarray(xyxy, np.float32).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad[0]) / self.scale[0]
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad[1]) / self.scale[1]
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, shape[1])
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, shape[0])
        return out


def resize(image: np.ndarray, width: int, height: int, letterbox: bool) -> Resized:
    """``image`` scaled to ``width`` x ``height``: stretched, or letterboxed (centred, grey 114).

    Example:
        >>> r = resize(np.zeros((576, 768, 3), np.uint8), 416, 416, letterbox=True)
        >>> r.image.shape, r.scale, r.pad
        ((416, 416, 3), (0.5416666666666666, 0.5416666666666666), (0.0, 52.0))
        >>> r.unmap(np.array([[0.0, 52.0, 416.0, 364.0]]), (576, 768)).tolist()
        [[0.0, 0.0, 768.0, 576.0]]
    """
    import cv2

    h, w = image.shape[:2]
    if not letterbox:
        out = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
        return Resized(out, (width / w, height / h), (0.0, 0.0))
    r = min(width / w, height / h)
    nw, nh = round(w * r), round(h * r)
    left, top = (width - nw) // 2, (height - nh) // 2
    out = np.full((height, width, 3), 114, np.uint8)
    out[top : top + nh, left : left + nw] = cv2.resize(
        image, (nw, nh), interpolation=cv2.INTER_LINEAR
    )
    return Resized(out, (nw / w, nh / h), (float(left), float(top)))


def finish(
    xyxy: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    cfg: DetectorConfigBase,
    keep: set[int] | None,
) -> Detections:
    """Candidates (frame pixels) -> ``Detections``: confidence, class filter, NMS, ``max_det``.

    Args:
        xyxy: ``(N, 4)`` boxes in frame pixels.
        scores: ``(N,)`` confidences.
        classes: ``(N,)`` COCO class ids.
        cfg: Thresholds (``conf``, ``iou``, ``agnostic_nms``, ``max_det``).
        keep: Class ids to keep, None = all.
    """
    mask = scores >= cfg.conf
    if keep is not None:
        mask &= np.isin(classes, list(keep))
    mask &= (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
    xyxy, scores, classes = xyxy[mask], scores[mask], classes[mask]
    if not len(xyxy):
        return Detections.empty(COCO_NAMES)
    import torch
    from torchvision.ops import batched_nms

    groups = np.zeros_like(classes) if cfg.agnostic_nms else classes
    kept = batched_nms(
        torch.from_numpy(np.ascontiguousarray(xyxy, np.float32)),
        torch.from_numpy(np.ascontiguousarray(scores, np.float32)),
        torch.from_numpy(np.asarray(groups, np.int64)),
        cfg.iou,
    ).numpy()[: cfg.max_det]
    return Detections(xyxy[kept], scores[kept], classes[kept], class_names=COCO_NAMES)
