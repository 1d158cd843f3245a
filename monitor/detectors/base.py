"""What every detector backend shares: the config fields, the ``detect`` protocol, model errors.

A backend is one module in this package holding its config class (``backend: Literal[...]``) and
its detector class; ``monitor.detectors`` lists them in one registry dict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import Field, field_validator

from monitor.detectors.tiling import TilingConfig
from monitor.registry import ModelNotFoundError
from monitor.schema import ConfigBase, ConfigError
from monitor.types import Detections, Frame

__all__ = ["Detector", "DetectorConfigBase", "ModelNotFoundError", "select_device"]


class Detector(Protocol):
    """Anything that detects objects in a batch of frames, one ``Detections`` per frame."""

    def detect(self, frames: Sequence[Frame]) -> list[Detections]: ...


class DetectorConfigBase(ConfigBase):
    """Fields every backend understands: weights, input size, thresholds, batching, device."""

    backend: str = Field(description="Detector backend (see monitor.detectors.BACKENDS).")
    weights: str | None = Field(
        None,
        description="Weights path, file in models/ or registry version; None = the promoted "
        "detector of models/registry.json.",
    )
    imgsz: int | None = Field(
        None, ge=32, le=4096, description="Inference size (multiple of 32); None = the model's own."
    )
    conf: float = Field(0.25, ge=0.0, le=1.0, description="Minimum detection confidence.")
    iou: float = Field(0.7, ge=0.0, le=1.0, description="NMS IoU threshold.")
    classes: list[str] | None = Field(None, description="Keep only these class names (None = all).")
    agnostic_nms: bool = Field(False, description="Class-agnostic NMS.")
    max_det: int = Field(300, ge=1, description="Maximum detections per frame after NMS.")
    device: str = Field(
        "auto", description="'auto' (cuda if available, else cpu), 'cpu', 'cuda:0'."
    )
    half: bool | None = Field(None, description="fp16 inference; None = on for cuda, off for cpu.")
    batch: int = Field(4, ge=1, le=256, description="Frames per inference batch.")
    tiling: TilingConfig = Field(default_factory=TilingConfig, description="Sliced inference.")  # type: ignore[arg-type]

    @field_validator("imgsz")
    @classmethod
    def _multiple_of_32(cls, v: int | None) -> int | None:
        if v is not None and v % 32:
            raise ValueError(f"must be a multiple of 32, got {v}")
        return v


def select_device(device: str) -> str:
    """'auto' -> 'cuda:0' when torch sees a GPU, else 'cpu'."""
    if device != "auto":
        return device
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def class_ids(classes: Sequence[str] | None, names: dict[int, str], model: str) -> set[int] | None:
    """Ids of the class names ``classes`` keeps (None = all); unknown names are a config error."""
    if not classes:
        return None
    by_name = {v: k for k, v in names.items()}
    unknown = [c for c in classes if c not in by_name]
    if unknown:
        raise ConfigError(
            f"model.classes: {unknown} not in the classes of {model}: {sorted(by_name)}"
        )
    return {by_name[c] for c in classes}
