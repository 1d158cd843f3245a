"""OpenVINO backend: the same YOLO ONNX export (or an OpenVINO IR ``.xml``) on OpenVINO's CPU runtime.

Pre- and post-processing are the onnxruntime backend's (``monitor.detectors.onnx``), so both give
the same boxes up to the runtimes' arithmetic. Telemetry is opted out before openvino is imported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from monitor.detectors.onnx import YoloRawDetector, _hw
from monitor.detectors.onnx_common import OnnxDetectorConfig
from monitor.schema import ConfigError


class OpenVinoConfig(OnnxDetectorConfig):
    """YOLO ONNX export or OpenVINO IR on OpenVINO; ``weights`` None = the promoted model's .onnx."""

    backend: Literal["openvino"] = "openvino"
    ov_device: str = Field("CPU", description="OpenVINO device name (CPU, GPU, AUTO).")


def _metadata(model: Any, weights: Path) -> Mapping[str, str]:
    """Export metadata: ONNX custom properties (IR keeps them in rt_info, ONNX needs onnx)."""
    if weights.suffix == ".onnx":
        import onnx

        proto = onnx.load(str(weights), load_external_data=False)
        return {p.key: p.value for p in proto.metadata_props}
    try:
        return {"names": str(model.get_rt_info(["model_info", "names"]))}
    except RuntimeError:
        return {}


class OpenVinoDetector(YoloRawDetector):
    """YOLO export compiled by OpenVINO with an explicit thread count (latency hint)."""

    def _load(self, weights: Path, cfg: OnnxDetectorConfig) -> Mapping[str, str]:
        os.environ.setdefault("OPENVINO_TELEMETRY_OPT_OUT", "1")
        try:
            import openvino as ov
        except ImportError:
            raise ConfigError("model.backend openvino needs `pip install openvino`") from None

        assert isinstance(cfg, OpenVinoConfig)
        core = ov.Core()
        model = core.read_model(str(weights))
        shape = [
            d.get_length() if d.is_static else None for d in model.inputs[0].get_partial_shape()
        ]
        self.input_hw = _hw(shape, cfg.imgsz)
        self.fixed_batch = shape[0] is not None
        props = {"INFERENCE_NUM_THREADS": cfg.threads, "PERFORMANCE_HINT": "LATENCY"}
        self.compiled = core.compile_model(model, cfg.ov_device, props)
        self.request = self.compiled.create_infer_request()
        return _metadata(model, weights)

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        self.request.infer({0: batch})
        out: np.ndarray = self.request.get_output_tensor(0).data.copy()
        return out
