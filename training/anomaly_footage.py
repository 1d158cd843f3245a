"""Anomaly training composition: read normal footage -> fit -> calibrate -> save -> register.

Footage is a folder of frames (one clip), a folder of such folders (one clip each), a video file,
or a folder of video files. Every problem with it (missing, empty, undecodable) is a FootageError
that names the path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monitor.anomaly import AnomalyModel


class FootageError(ValueError):
    """Footage could not be used for training or evaluation; the message names the path."""


@dataclass(frozen=True)
class FootageClip:
    """One clip of footage: its name, source path, decoded frames in order and frame rate."""

    name: str
    path: Path
    frames: list[np.ndarray]
    fps: float = 10.0


def read_clips(path: str | Path) -> list[FootageClip]:
    """All clips under ``path`` (as ``monitor.sources`` finds them), decoded, in name order.

    Raises FootageError naming the path when it is missing, holds no frames, or its first frame
    cannot be decoded; undecodable frames after the first are skipped, as the live sources do.
    """
    from monitor.sources import FrameSource, SourceError, discover_inputs

    try:
        clips = []
        for spec in discover_inputs([path]):
            src = FrameSource.open(spec)
            frames = [f.image for f in src.frames()]
            clips.append(FootageClip(spec.name, spec.path, frames, src.fps))
    except SourceError as err:
        raise FootageError(f"unusable footage {path}: {err}") from None
    if not any(c.frames for c in clips):
        raise FootageError(f"no decodable frames in footage {path}")
    return clips


def footage_fingerprint(clips: list[FootageClip]) -> str:
    """Short sha256 over clip names, frame counts and pixel sums: same footage, same print."""
    h = hashlib.sha256()
    for c in clips:
        sums = [int(f[::4, ::4].sum()) for f in c.frames]
        h.update(f"{c.name}|{len(c.frames)}|{sums}\n".encode())
    return h.hexdigest()[:16]


def train_anomaly(
    camera: str,
    footage: list[Path],
    out: Path,
    *,
    fps: float | None = None,
    target_per_hour: float = 1.0,
    cooldown_s: float = 10.0,
    sigma: float = 5.0,
    version: str | None = None,
    registry_root: Path | None = None,
    promote: bool = True,
) -> tuple[AnomalyModel, Path]:
    """Fit a camera's model on normal footage, save it to ``out`` and register it (kind=anomaly);
    ``fps`` defaults to the footage's own (video header, seqinfo.ini, else 25)."""
    from training.anomaly_fit import fit_normal

    clips = [c for f in footage for c in read_clips(f)]
    fps = fps or clips[0].fps
    version = version or out.stem
    args = {"camera": camera, "footage": [str(f) for f in footage], "fps": fps, "sigma": sigma,
            "target_alerts_per_hour": target_per_hour, "cooldown_s": cooldown_s}  # fmt: skip
    meta = {"camera": camera, "version": version, "clips": [c.name for c in clips], "train": args}
    model, _ = fit_normal(
        [c.frames for c in clips],
        fps=fps,
        sigma=sigma,
        target_per_hour=target_per_hour,
        cooldown_s=cooldown_s,
        meta=meta,
    )
    path = model.save(out)
    if registry_root is not None:
        register_model(registry_root, path, version, footage_fingerprint(clips), args, {}, promote)
    return model, path


def register_model(
    root: Path,
    path: Path,
    version: str,
    fingerprint: str,
    train_args: dict[str, Any],
    metrics: dict[str, Any],
    promote: bool = True,
) -> None:
    """Add the model file to the model registry under ``root`` as ``kind="anomaly"``."""
    from monitor.registry import ModelRegistry, ModelVersion

    reg = ModelRegistry(root)
    rel = str(path.resolve().relative_to(Path(root).resolve()))
    mv = ModelVersion.new(version, "anomaly", rel, data_fingerprint=fingerprint,
                          train_args=train_args, metrics=metrics)  # fmt: skip
    reg.register(mv, promote=promote)
