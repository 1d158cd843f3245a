"""Anomaly training composition: read normal footage -> fit -> calibrate -> save -> register.

Footage is a folder of frames (one clip), a folder of such folders (one clip each), a video file,
or a folder of video files. Every problem with it (missing, empty, undecodable) is a FootageError
that names the path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from monitor.anomaly import AnomalyModel, AnomalyModelError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".m4v")


class FootageError(ValueError):
    """Footage could not be used for training or evaluation; the message names the path."""


@dataclass(frozen=True)
class FootageClip:
    """One clip of footage: its name, source path and decoded frames in order."""

    name: str
    path: Path
    frames: list[np.ndarray]


def _read_images(folder: Path) -> list[np.ndarray]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    frames = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if img is None:
            raise FootageError(f"cannot decode image {f} (corrupt or not an image)")
        frames.append(img)
    return frames


def _read_video(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(img)
    finally:
        cap.release()
    if not frames:
        raise FootageError(f"no frames could be decoded from video {path}")
    return frames


def read_clips(path: str | Path) -> list[FootageClip]:
    """All clips under ``path`` in name order; FootageError naming ``path`` if there are none."""
    p = Path(path)
    if not p.exists():
        raise FootageError(f"footage not found: {p}")
    if p.is_file():
        if p.suffix.lower() not in VIDEO_EXTS:
            raise FootageError(f"{p}: not a video file ({', '.join(VIDEO_EXTS)}) or frame folder")
        return [FootageClip(p.stem, p, _read_video(p))]
    clips = []
    if any(c.suffix.lower() in IMAGE_EXTS for c in p.iterdir()):
        clips.append(FootageClip(p.name, p, _read_images(p)))
    for child in sorted(p.iterdir()):
        if child.is_dir() and any(c.suffix.lower() in IMAGE_EXTS for c in child.iterdir()):
            clips.append(FootageClip(child.name, child, _read_images(child)))
        elif child.suffix.lower() in VIDEO_EXTS:
            clips.append(FootageClip(child.stem, child, _read_video(child)))
    if not clips or not any(c.frames for c in clips):
        raise FootageError(f"no frames found in footage folder {p} (expected images or videos)")
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
    fps: float = 10.0,
    target_per_hour: float = 1.0,
    cooldown_s: float = 10.0,
    sigma: float = 5.0,
    version: str | None = None,
    registry_root: Path | None = None,
    promote: bool = True,
) -> tuple[AnomalyModel, Path]:
    """Fit a camera's model on normal footage, save it to ``out`` and register it (kind=anomaly)."""
    from monitor.anomaly_train import fit_normal

    clips = [c for f in footage for c in read_clips(f)]
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
    name = version.rsplit("-v", 1)[0]
    mv = ModelVersion(
        name, version, "anomaly", rel, None, fingerprint, train_args, metrics,
        datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )  # fmt: skip
    reg.register(mv, promote=promote)


def resolve_model(ref: str | None, registry_root: Path | None = None) -> AnomalyModel:
    """A model from a file path, a registry version, or (None / ``promoted``) the promoted one."""
    from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry

    if ref and Path(ref).suffix == ".npz":
        return AnomalyModel.load(ref)
    reg = ModelRegistry(registry_root or DEFAULT_MODELS_DIR)
    mv = reg.promoted("anomaly") if ref in (None, "promoted") else reg.get(str(ref))
    if mv is None:
        raise AnomalyModelError(f"no promoted anomaly model in {reg.file}; train one first")
    return AnomalyModel.load(reg.resolve_path(mv))
