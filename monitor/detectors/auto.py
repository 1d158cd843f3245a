"""The default backend: the fastest runtime this machine and model allow, else ultralytics.

On a CPU, when openvino is installed and the model has an INT8 OpenVINO export (``monitor
export`` writes one; the committed default model has it), frames go through OpenVINO INT8 with
an explicit thread count: 3-4x the network speed of torch at the same weights and imgsz (see
README, "Batch throughput"). On a GPU, or for weights with no such export (``yolo11n.pt``, a
fresh ``monitor train`` run), ultralytics predict runs them, batched and fp16 on CUDA.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from monitor.detectors.base import DetectorConfigBase
from monitor.detectors.openvino import OV_CACHE_DIR, OpenVinoConfig, ov_model_path
from monitor.registry import DEFAULT_MODELS_DIR, ModelNotFoundError

log = logging.getLogger(__name__)


class AutoConfig(DetectorConfigBase):
    """``backend: auto``: OpenVINO INT8 on a CPU when the model has that export, else ultralytics."""

    backend: Literal["auto"] = "auto"
    batch: int = Field(
        8,
        ge=1,
        le=256,
        description="Frames per inference batch: 8 is OpenVINO's best CPU throughput here (4.7 "
        "ms/frame vs 6.4 one by one); live cameras batch only what is due.",
    )
    threads: int = Field(
        2, ge=1, le=64, description="OpenVINO inference threads when OpenVINO is chosen."
    )
    precision: Literal["int8", "fp32"] = Field(
        "int8", description="OpenVINO precision when OpenVINO is chosen (int8 = the INT8 IR)."
    )
    cache_dir: str | None = Field(
        OV_CACHE_DIR, description="OpenVINO's compiled-network cache when OpenVINO is chosen."
    )


def gpu_present() -> bool:
    """A CUDA GPU torch can use; torch is imported only where an NVIDIA driver is loaded."""
    if not Path("/proc/driver/nvidia/version").is_file():
        return False
    import torch

    return bool(torch.cuda.is_available())


def choose(cfg: AutoConfig, models_dir: Path | str = DEFAULT_MODELS_DIR) -> DetectorConfigBase:
    """The concrete backend config ``cfg`` resolves to on this machine (logged with the reason)."""
    from monitor.detectors.ultralytics import UltralyticsConfig

    common = cfg.model_dump(exclude={"backend", "threads", "precision", "cache_dir"})
    on_cpu = cfg.device == "cpu" or (cfg.device == "auto" and not gpu_present())
    reason = "a GPU is present" if not on_cpu else ""
    if on_cpu and importlib.util.find_spec("openvino") is None:
        reason = "openvino is not installed"
    elif on_cpu:
        try:
            path = ov_model_path(cfg.weights, cfg.precision, models_dir)
        except (ModelNotFoundError, KeyError) as err:
            reason = f"no OpenVINO {cfg.precision} export ({err})"
        else:
            log.info("detector backend auto -> openvino %s (%s)", cfg.precision, path.name)
            weights = str(path) if cfg.weights is not None else None
            return OpenVinoConfig(
                **{**common, "weights": weights},
                threads=cfg.threads,
                precision=cfg.precision,
                cache_dir=cfg.cache_dir,
            )
    log.info("detector backend auto -> ultralytics (%s)", reason)
    return UltralyticsConfig(**common)


def AutoDetector(cfg: AutoConfig, models_dir: Path | str = DEFAULT_MODELS_DIR) -> Any:  # noqa: N802 - stands in for a detector class in BACKENDS
    """The detector of the backend :func:`choose` picks."""
    from monitor.detectors import BACKENDS

    concrete = choose(cfg, models_dir)
    _, cls = BACKENDS[concrete.backend]
    return cls(concrete, models_dir)
