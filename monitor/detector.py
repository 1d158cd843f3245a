"""Object detection with ultralytics YOLO: batched inference, NMS settings from config.

Model resolution never touches the network: explicit path -> ``models/`` -> promoted version in
``models/registry.json``; anything else fails with a message naming the file and how to supply it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from monitor.config import ConfigError, ModelConfig
from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry
from monitor.runtime import configure_offline
from monitor.types import Detections, Frame

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".pt", ".onnx", ".torchscript", ".engine", "_openvino_model")


class ModelNotFoundError(FileNotFoundError):
    """No usable weights; the message says which file was looked for and how to provide one."""


def _how_to_supply(models_dir: Path) -> str:
    return (
        "Ways to supply a model: pass --weights PATH (or model.weights in the config) pointing to a "
        f"YOLO .pt/.onnx file; copy the file into {models_dir}; train one offline with "
        "`monitor train` and promote it with `monitor models promote VERSION`; or, on a machine with "
        "internet, download yolo11n.pt from ultralytics and pass its path. Nothing is downloaded here."
    )


def resolve_weights(weights: str | None, models_dir: Path | str = DEFAULT_MODELS_DIR) -> Path:
    """Find the weights file for ``weights`` without any network access.

    Args:
        weights: A path, a file name in ``models_dir``, a registry version, or None for the
            promoted detector.
        models_dir: Folder holding the project's models and ``registry.json``.

    Raises:
        ModelNotFoundError: nothing matched; the message names what was tried.
    """
    models_dir = Path(models_dir)
    registry = ModelRegistry(models_dir)
    if weights is None:
        promoted = registry.promoted("detector")
        if promoted is None:
            raise ModelNotFoundError(
                f"no detector weights given and no promoted detector in {models_dir / 'registry.json'}. "
                + _how_to_supply(models_dir)
            )
        path = registry.resolve_path(promoted)
        if not path.exists():
            raise ModelNotFoundError(
                f"promoted detector {promoted.version} is missing its file {path}"
            )
        return path
    candidates = [Path(weights).expanduser(), models_dir / weights]
    for c in candidates:
        if c.exists():
            return c.resolve()
    try:
        mv = registry.get(weights)
    except KeyError:
        mv = None
    if mv is not None and registry.resolve_path(mv).exists():
        return registry.resolve_path(mv)
    tried = ", ".join(str(c) for c in candidates)
    raise ModelNotFoundError(
        f"model weights not found: {weights!r} (looked at {tried}). " + _how_to_supply(models_dir)
    )


def select_device(device: str) -> str:
    """'auto' -> 'cuda:0' when torch sees a GPU, else 'cpu'."""
    if device != "auto":
        return device
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def from_ultralytics(result: Any, class_names: Mapping[int, str]) -> Detections:
    """Convert one ultralytics ``Results`` into ``Detections``."""
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return Detections.empty(class_names)
    data = boxes.data.cpu().numpy()
    return Detections(data[:, :4], data[:, 4], data[:, 5].astype(np.int64), class_names=class_names)


class Detector:
    """Batched YOLO inference returning one ``Detections`` per frame.

    Example:
        >>> det = Detector(ModelConfig(imgsz=416))  # doctest: +SKIP
        >>> [d] = det.detect([frame])  # doctest: +SKIP
    """

    def __init__(self, cfg: ModelConfig, models_dir: Path | str = DEFAULT_MODELS_DIR) -> None:
        configure_offline()
        from ultralytics import YOLO

        self.cfg = cfg
        self.weights = resolve_weights(cfg.weights, models_dir)
        self.device = select_device(cfg.device)
        self.half = cfg.half if cfg.half is not None else self.device.startswith("cuda")
        task = "detect" if self.weights.suffix != ".pt" else None
        self.model = YOLO(str(self.weights), task=task)
        self.class_names: dict[int, str] = {int(k): str(v) for k, v in self.model.names.items()}
        self.class_ids = self._class_ids(cfg.classes)
        self.imgsz = int(cfg.imgsz or self.model.overrides.get("imgsz") or 640)
        log.info("detector %s on %s (half=%s)", self.weights.name, self.device, self.half)

    def _class_ids(self, classes: Sequence[str] | None) -> list[int] | None:
        if not classes:
            return None
        by_name = {v: k for k, v in self.class_names.items()}
        unknown = [c for c in classes if c not in by_name]
        if unknown:
            raise ConfigError(
                f"model.classes: {unknown} not in the classes of {self.weights.name}: "
                f"{sorted(by_name)}"
            )
        return [by_name[c] for c in classes]

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
