"""The ultralytics backend: YOLO ``.pt`` / ``.onnx`` weights through ultralytics predict (NMS included).

Weights are found by the registry's resolver (``monitor.registry.resolve_model``), never online.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from monitor.detectors.base import DetectorConfigBase, class_ids, select_device
from monitor.registry import DEFAULT_MODELS_DIR, TRUST_NOTE, ModelNotFoundError, resolve_model
from monitor.runtime import configure_offline
from monitor.types import Detections, Frame

log = logging.getLogger(__name__)


class UltralyticsConfig(DetectorConfigBase):
    """ultralytics YOLO (``.pt`` or exported ``.onnx``); ``auto``'s choice on a GPU."""

    backend: Literal["ultralytics"] = "ultralytics"


def from_ultralytics(result: Any, class_names: Mapping[int, str]) -> Detections:
    """Convert one ultralytics ``Results`` into ``Detections``."""
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return Detections.empty(class_names)
    data = boxes.data.cpu().numpy()
    return Detections(data[:, :4], data[:, 4], data[:, 5].astype(np.int64), class_names=class_names)


WEIGHT_SUFFIXES = frozenset({".pt", ".onnx", ".engine", ".torchscript", ".tflite", ".pb"})


def load_yolo(yolo: Any, weights: Path) -> Any:
    """The YOLO model in ``weights``; ``ModelNotFoundError`` (no traceback) for anything else."""
    if weights.is_file() and weights.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ModelNotFoundError(
            f"{weights} is not a detector weights file (expected one of "
            f"{', '.join(sorted(WEIGHT_SUFFIXES))}). {TRUST_NOTE}"
        )
    task = "detect" if weights.suffix != ".pt" else None
    try:
        model = yolo(str(weights), task=task)
        _ = model.names  # exported formats load lazily: fail here, not at the first frame
        return model
    except Exception as err:  # noqa: BLE001 - torch/ultralytics raise many kinds for a bad file
        raise ModelNotFoundError.unreadable(
            weights, "a YOLO model ultralytics can read", err, TRUST_NOTE
        ) from None


def trained_imgsz(model: Any, fallback: int = 640) -> int:
    """The image size a loaded YOLO model was trained at (its checkpoint's ``imgsz``), else
    ``fallback``: running or training on at another size measures a different detector."""
    own = model.overrides.get("imgsz")
    if isinstance(own, (list, tuple)):
        own = max(own)
    return int(own) if own else fallback


class UltralyticsDetector:
    """Batched YOLO inference returning one ``Detections`` per frame.

    Example:
        >>> det = UltralyticsDetector(UltralyticsConfig(imgsz=416))  # the promoted model
        >>> [d] = det.detect([Frame("cam", 0, 0.0, np.full((240, 320, 3), 114, np.uint8))])
        >>> len(d), d.class_names[0]
        (0, 'person')
    """

    def __init__(self, cfg: UltralyticsConfig, models_dir: Path | str = DEFAULT_MODELS_DIR) -> None:
        configure_offline()
        from ultralytics import YOLO

        self.cfg = cfg
        self.weights = resolve_model(cfg.weights, "detector", models_dir)
        self.device = select_device(cfg.device)
        self.half = cfg.half if cfg.half is not None else self.device.startswith("cuda")
        self.model = load_yolo(YOLO, self.weights)
        self.class_names: dict[int, str] = {int(k): str(v) for k, v in self.model.names.items()}
        ids = class_ids(cfg.classes, self.class_names, self.weights.name)
        self.class_ids = sorted(ids) if ids is not None else None
        self.imgsz = int(cfg.imgsz or trained_imgsz(self.model))
        log.info("detector %s on %s (half=%s)", self.weights.name, self.device, self.half)

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Detect objects in a batch of frames (one forward pass per ``cfg.batch`` frames)."""
        if not frames:
            return []
        results = self.model.predict(
            [f.image for f in frames],
            imgsz=self.imgsz,
            conf=self.cfg.conf,
            iou=self.cfg.iou,
            classes=self.class_ids,
            agnostic_nms=self.cfg.agnostic_nms,
            max_det=self.cfg.max_det,
            device=self.device,
            half=self.half,
            batch=max(len(frames), 1),
            verbose=False,
            save=False,
        )
        return [from_ultralytics(r, self.class_names) for r in results]
