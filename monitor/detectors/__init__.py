"""Detector backends: one module each (config class + detector class), one line each below.

``ModelConfig`` is the discriminated union of the backends' config classes, keyed by
``backend`` (``auto`` when omitted: OpenVINO INT8 on a CPU where the model has that export,
else ultralytics); ``create_detector`` builds the one a config names.
Backend modules import their heavy runtime (torch, onnxruntime, openvino) only when a detector is
built, so reading a config never pulls them in.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from monitor.detectors.auto import AutoConfig, AutoDetector
from monitor.detectors.base import Detector, DetectorConfigBase, ModelNotFoundError
from monitor.detectors.centernet import CenterNetConfig, CenterNetDetector
from monitor.detectors.nanodet import NanoDetConfig, NanoDetDetector
from monitor.detectors.onnx import OnnxConfig, OnnxDetector
from monitor.detectors.openvino import OpenVinoConfig, OpenVinoDetector
from monitor.detectors.ultralytics import UltralyticsConfig, UltralyticsDetector

BACKENDS: dict[str, tuple[type[DetectorConfigBase], Any]] = {
    "auto": (AutoConfig, AutoDetector),
    "ultralytics": (UltralyticsConfig, UltralyticsDetector),
    "nanodet": (NanoDetConfig, NanoDetDetector),
    "centernet": (CenterNetConfig, CenterNetDetector),
    "onnx": (OnnxConfig, OnnxDetector),
    "openvino": (OpenVinoConfig, OpenVinoDetector),
}
DEFAULT_BACKEND = "auto"


def _default_backend(value: Any) -> Any:
    if isinstance(value, dict) and "backend" not in value:
        return {**value, "backend": DEFAULT_BACKEND}
    return value


ModelConfig = Annotated[
    AutoConfig | UltralyticsConfig | NanoDetConfig | CenterNetConfig | OnnxConfig | OpenVinoConfig,
    Field(discriminator="backend"),
    BeforeValidator(_default_backend),
]


def create_detector(cfg: DetectorConfigBase) -> Detector:
    """The detector of the backend ``cfg.backend`` names."""
    _, cls = BACKENDS[cfg.backend]
    detector: Detector = cls(cfg)
    if cfg.tiling.enabled:  # sliced inference wraps any backend (monitor.detectors.tiling)
        from monitor.detectors.tiling import TiledDetector

        detector = TiledDetector(detector, cfg.tiling)
    return detector


def describe(detector: Any) -> str:
    """One line naming the runtime, weights file, device and threads a detector runs with."""
    inner = getattr(detector, "detector", detector)  # a TiledDetector wraps the backend's
    runtime = {"OpenVinoDetector": "OpenVINO", "OnnxDetector": "onnxruntime"}.get(
        type(inner).__name__, type(inner).__name__.removesuffix("Detector").lower()
    )
    weights = getattr(inner, "weights", None)
    parts = [runtime, getattr(weights, "name", "")]
    threads = getattr(getattr(inner, "cfg", None), "threads", None)
    if threads is not None:
        parts.append(f"{threads} threads")
    elif hasattr(inner, "device"):
        parts.append(str(inner.device))
    return " ".join(p for p in parts[:2] if p) + "".join(f", {p}" for p in parts[2:])


__all__ = [
    "BACKENDS",
    "Detector",
    "DetectorConfigBase",
    "ModelConfig",
    "ModelNotFoundError",
    "create_detector",
    "describe",
]
