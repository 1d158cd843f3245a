"""Process-wide settings that must be fixed before ultralytics is imported.

ultralytics probes the network, syncs settings, auto-downloads weights and pins torch to one
thread on small machines; this module turns all of that off in one place, so every entry point
(CLI, tests, benchmarks) gets the same offline, correctly threaded behaviour.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_CONFIGURED = False


def block_telemetry() -> None:
    """Keep OpenVINO's and NNCF's usage telemetry (Google Analytics) out of this process.

    ``import openvino`` starts it: a client-id file in ``~/intel`` and events from
    ``convert_model`` and ``nncf.quantize``, unless a consent file says no. openvino-telemetry
    2025 ignores ``OPENVINO_TELEMETRY_OPT_OUT``, and both callers fall back to a no-op stub when
    the package cannot be imported, so this makes it unimportable. Call before openvino/nncf.
    """
    os.environ.setdefault("OPENVINO_TELEMETRY_OPT_OUT", "1")
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]


def default_threads() -> int:
    """Torch intra-op threads: all cores unless MONITOR_THREADS says otherwise."""
    env = os.environ.get("MONITOR_THREADS")
    if env:
        return max(1, int(env))
    return max(1, os.cpu_count() or 1)


def configure_offline(threads: int | None = None) -> None:
    """Force ultralytics offline (no probe, no sync, no telemetry) and set thread counts.

    Safe to call many times; only the first call changes the environment.
    """
    global _CONFIGURED
    n = threads or default_threads()
    if not _CONFIGURED:
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ.setdefault("YOLO_VERBOSE", "False")
        cfg_dir = Path(
            os.environ.get(
                "YOLO_CONFIG_DIR", Path.home() / ".cache" / "video-monitor" / "ultralytics"
            )
        )
        cfg_dir.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(cfg_dir)
        os.environ.setdefault("OMP_NUM_THREADS", str(n))
        # The generic do-not-track flag several libraries honour.
        os.environ.setdefault("DO_NOT_TRACK", "1")
        # albumentations asks pypi.org for its newest version at import unless told not to.
        os.environ["NO_ALBUMENTATIONS_UPDATE"] = "1"
        _CONFIGURED = True
    block_telemetry()
    from ultralytics import settings
    from ultralytics.utils import torch_utils

    # No settings sync, no third-party experiment loggers (they phone home when installed).
    off = {k: False for k in ("sync", "clearml", "comet", "dvc", "mlflow", "raytune", "wandb")}
    changes = {k: v for k, v in off.items() if k in settings and settings[k] != v}
    if changes:
        settings.update(changes)
    # select_device() resets torch threads to NUM_THREADS (cpu_count - 1, i.e. 1 on 2 cores).
    torch_utils.NUM_THREADS = n  # type: ignore[attr-defined]
    import torch

    torch.set_num_threads(n)
