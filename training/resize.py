"""A registered detector's weights under a new version with another deployed input size.

The size a model runs at when the config leaves ``model.imgsz`` empty, and the size its exports
take, is the ``imgsz`` saved in its checkpoint (the size it was trained at). Deploying the same
weights at another size is a model decision with its own measurements, so it gets its own version,
lineage and rollback instead of a global ``model.imgsz`` that would also resize every other model.
"""

from __future__ import annotations

from typing import Any

from monitor.registry import ModelRegistry, ModelVersion


class ResizeError(ValueError):
    """The version cannot be registered at that size (unknown base, not a detector, bad size)."""


def register_resized(
    registry: ModelRegistry,
    version: str,
    base: str,
    imgsz: int,
    metrics: dict[str, Any] | None = None,
    promote: bool = False,
) -> ModelVersion:
    """Copy ``base``'s checkpoint to ``<registry>/<version>.pt`` with ``imgsz`` as its size and
    register it: ``base`` is its parent, the dataset fingerprint is ``base``'s, no exports (run
    ``monitor export`` for them)."""
    from training.checkpoints import detector_sources, load_checkpoint, save_portable

    if imgsz < 32 or imgsz % 32:
        raise ResizeError(f"imgsz must be a positive multiple of 32, got {imgsz}")
    [mb] = detector_sources(registry, version, (base,), ResizeError)
    ckpt = load_checkpoint(registry.resolve_path(mb))
    own = (ckpt.get("train_args") or {}).get("imgsz")
    recipe = {"base": base, "imgsz": imgsz, "trained_at": own}
    ckpt["train_args"] = {**dict(ckpt.get("train_args") or {}), "imgsz": imgsz, "resize": recipe}
    dst = registry.root / f"{version}.pt"
    save_portable(ckpt, dst, registry.root.resolve().parent)
    mv = ModelVersion.new(
        version,
        "detector",
        dst.name,
        parent=base,
        data_fingerprint=mb.data_fingerprint,
        train_args={"imgsz": imgsz, "resize": recipe},
        metrics=metrics or {},
    )
    registry.register(mv, promote=promote)
    return mv
