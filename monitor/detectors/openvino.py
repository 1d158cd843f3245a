"""OpenVINO backend: a YOLO export (fp32 ONNX, or the INT8 IR ``monitor export`` writes) on OpenVINO.

Pre- and post-processing are the onnxruntime backend's (``monitor.detectors.onnx``), so both give
the same boxes up to the runtimes' arithmetic. An export with dynamic H x W (the INT8 IR) is
compiled once per input shape, so each camera's rect letterbox runs as a static network.
Telemetry is opted out before openvino is imported.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from monitor.detectors.base import ModelNotFoundError
from monitor.detectors.onnx import YoloRawDetector, _hw, yolo_onnx_path
from monitor.detectors.onnx_common import OnnxDetectorConfig
from monitor.registry import ModelRegistry, resolve_model
from monitor.runtime import block_telemetry
from monitor.schema import ConfigError

log = logging.getLogger(__name__)

OV_CACHE_DIR = "~/.cache/video-monitor/openvino"
OV_CACHE_MAX_BYTES = 512 * 2**20
"""The compile cache is pruned, oldest first, to this size (~80 networks) when a detector loads."""
INT8_VARIANT = "openvino-int8"
"""Registry variant name of a version's INT8 OpenVINO IR (``monitor export`` writes it)."""


class OpenVinoConfig(OnnxDetectorConfig):
    """YOLO export on OpenVINO; ``weights`` None = the promoted model's export of ``precision``."""

    backend: Literal["openvino"] = "openvino"
    ov_device: str = Field("CPU", description="OpenVINO device name (CPU, GPU, AUTO).")
    cache_dir: str | None = Field(
        OV_CACHE_DIR,
        description="Where OpenVINO keeps compiled networks (one per model and input shape, "
        "~6 MB each, oldest pruned past 512 MB), so a restart loads instead of compiling "
        "(0.13 s instead of 0.3 s per shape); empty or null: no cache.",
    )
    precision: Literal["fp32", "int8"] = Field(
        "fp32",
        description="fp32: the version's .onnx; int8: its INT8 IR (NNCF post-training "
        "quantization, `monitor export`). Ignored when weights names a .onnx/.xml file.",
    )


def int8_ir_path(weights: Path) -> Path:
    """Where a model's INT8 OpenVINO IR lives: ``<stem>-int8-openvino.xml`` beside its ``.pt``."""
    return weights.with_name(f"{weights.stem}-int8-openvino.xml")


def ov_model_path(weights: str | None, precision: str, models_dir: Path | str) -> Path:
    """The export to run: a named .onnx/.xml file, else the version's (or promoted) export."""
    if weights is not None and Path(weights).suffix in (".onnx", ".xml"):
        return resolve_model(weights, "detector", models_dir)
    if precision == "fp32":
        return yolo_onnx_path(weights, models_dir)
    reg = ModelRegistry(models_dir)
    if weights in (None, "promoted"):
        mv = reg.promoted("detector")
        if mv is None:
            raise ModelNotFoundError(f"no promoted detector in {reg.file}")
    else:
        try:
            mv = reg.get(str(weights))
        except KeyError:  # a weights file outside the registry: its IR sits beside it
            xml = int8_ir_path(resolve_model(weights, "detector", models_dir))
            if xml.is_file():
                return xml
            raise ModelNotFoundError(
                f"no INT8 OpenVINO export at {xml} (run `monitor export`)"
            ) from None
    try:
        return reg.resolve_path(mv, INT8_VARIANT)
    except KeyError:
        raise ModelNotFoundError(
            f"{mv.version} has no INT8 OpenVINO export: run `monitor export {mv.version} --data "
            "DATA.yaml` (or set model.precision: fp32)"
        ) from None


def prune_cache(folder: Path, max_bytes: int = OV_CACHE_MAX_BYTES) -> list[Path]:
    """Delete the oldest compiled networks in ``folder`` until it holds ``max_bytes`` at most.

    OpenVINO adds one blob per model and input shape and never removes any. Returns what went.
    """
    stats = [(blob.stat(), blob) for blob in folder.glob("*.blob")]
    blobs = sorted((st.st_mtime, st.st_size, blob) for st, blob in stats)  # oldest first
    total, gone = sum(size for _, size, _ in blobs), []
    for _, size, blob in blobs:
        if total <= max_bytes:
            break
        total -= size
        blob.unlink(missing_ok=True)
        gone.append(blob)
    return gone


def _bgr_u8_input(ov: Any, model: Any) -> Any:
    """``model`` taking letterboxed BGR uint8 NHWC: OpenVINO converts to RGB float / 255 NCHW
    inside the compiled graph, cheaper than the same steps in numpy."""
    ppp = ov.preprocess.PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(
        ov.Layout("NHWC")
    ).set_color_format(ov.preprocess.ColorFormat.BGR)
    ppp.input().preprocess().convert_element_type(ov.Type.f32).convert_color(
        ov.preprocess.ColorFormat.RGB
    ).scale(255.0)
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    return ppp.build()


def _metadata(model: Any, weights: Path) -> Mapping[str, str]:
    """Export metadata: ONNX custom properties (IR keeps them in rt_info, ONNX needs onnx)."""
    if weights.suffix == ".onnx":
        import onnx

        proto = onnx.load(str(weights), load_external_data=False)
        return {p.key: p.value for p in proto.metadata_props}
    meta = {}
    for key in ("names", "imgsz"):
        with contextlib.suppress(RuntimeError):
            meta[key] = str(model.get_rt_info(["model_info", key]).astype(str))
    return meta


class OpenVinoDetector(YoloRawDetector):
    """YOLO export compiled by OpenVINO with an explicit thread count (latency hint)."""

    def _resolve(self, cfg: OnnxDetectorConfig, models_dir: Path | str) -> Path:
        assert isinstance(cfg, OpenVinoConfig)
        return ov_model_path(cfg.weights, cfg.precision, models_dir)

    def _load(self, weights: Path, cfg: OnnxDetectorConfig) -> Mapping[str, str]:
        block_telemetry()
        try:
            import openvino as ov
        except ImportError:
            raise ConfigError("model.backend openvino needs `pip install openvino`") from None

        assert isinstance(cfg, OpenVinoConfig)
        self.core = ov.Core()
        if cfg.cache_dir:
            cache = Path(cfg.cache_dir).expanduser()
            try:
                cache.mkdir(parents=True, exist_ok=True)
                prune_cache(cache)
                self.core.set_property({"CACHE_DIR": str(cache)})
            except (OSError, RuntimeError) as err:  # a read-only home: compile every time
                log.warning("OpenVINO compile cache off (%s): %s", cache, err)
        try:
            self.model = self.core.read_model(str(weights))
        except RuntimeError as err:  # OpenVINO's one kind for a file it cannot parse
            raise ModelNotFoundError.unreadable(
                weights, "an OpenVINO IR or ONNX model", err
            ) from None
        shape: list[Any] = [
            d.get_length() if d.is_static else None
            for d in self.model.inputs[0].get_partial_shape()
        ]
        self.input_hw = _hw(shape, cfg.imgsz)
        self.fixed_batch = shape[0] is not None
        self.dynamic_hw = shape[2] is None or shape[3] is None
        self.model = _bgr_u8_input(ov, self.model)
        self.bgr_u8_input = True
        self.props = {"INFERENCE_NUM_THREADS": cfg.threads, "PERFORMANCE_HINT": "LATENCY"}
        self.requests: dict[tuple[int, ...], Any] = {}
        if not (self.dynamic_hw or shape[0] is None):
            self.requests[(shape[0], shape[2], shape[3], 3)] = self._compile(None)
        return _metadata(self.model, weights)

    def _compile(self, shape: tuple[int, ...] | None) -> Any:
        if shape is not None:
            self.model.reshape({0: list(shape)})
        device = self.cfg.ov_device  # type: ignore[attr-defined]
        return self.core.compile_model(self.model, device, self.props).create_infer_request()

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        key = tuple(batch.shape)
        request = self.requests.get(key)
        if request is None:
            request = self.requests[key] = self._compile(key)
        request.infer({0: batch})
        out: np.ndarray = request.get_output_tensor(0).data.copy()
        return out
