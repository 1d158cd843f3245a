"""What every benchmark's JSON report ends with: the machine it ran on, and the file written."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import cv2


def machine(**extra: Any) -> dict[str, Any]:
    """CPU count, architecture, Python and OpenCV versions, plus ``extra`` (e.g. ``threads=1``)."""
    return {"cpu_count": os.cpu_count(), "machine": platform.machine(), **extra,
            "python": platform.python_version(), "opencv": cv2.__version__}  # fmt: skip


def write_json(report: dict[str, Any], path: Path) -> None:
    """``report`` as indented JSON at ``path`` (parent folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def split_size(model: str) -> tuple[str, int | None]:
    """``NAME@SIZE`` (a model at another inference size than its own) as (NAME, SIZE); a plain
    name as (name, None)."""
    name, _, size = model.partition("@")
    return name, int(size) if size else None


def device_name(device: str) -> str:
    """``cpu``, or ``cuda:N: <the GPU's name as torch reports it>``."""
    if device == "cpu":
        return "cpu"
    import torch

    return f"{device}: {torch.cuda.get_device_name(int(device.partition(':')[2] or 0))}"
