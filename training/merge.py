"""Weight-space interpolation of two checkpoints of one fine-tuning chain (WiSE-FT, model soups).

A model fine-tuned on for robustness (here: camera augmentation) and the ancestor it started from
lie in one basin of the loss, so the points on the line between their weights keep much of what
each is good at (Wortsman et al. 2022, "Robust fine-tuning of zero-shot models"). No training and
no data: ``theta = (1 - alpha) * theta_base + alpha * theta_other`` for every floating-point
tensor, BatchNorm statistics included; integer buffers come from ``base``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from monitor.registry import ModelRegistry, ModelVersion


class MergeError(ValueError):
    """The two checkpoints cannot be interpolated (different architecture or classes)."""


@dataclass(frozen=True)
class Merge:
    """What :func:`interpolate` wrote: the file, its two sources and the weight of ``other``."""

    path: Path
    base: str
    other: str
    alpha: float

    def as_args(self) -> dict[str, Any]:
        """The registry's ``train_args`` for the merged version (its recipe)."""
        return {
            "method": "weight interpolation (WiSE-FT): (1 - alpha) * base + alpha * other",
            "base": self.base,
            "other": self.other,
            "alpha": self.alpha,
        }


def _load(path: Path) -> dict[str, Any]:
    from training.checkpoints import load_checkpoint

    try:
        return load_checkpoint(path)
    except ValueError as err:
        raise MergeError(str(err)) from None


def interpolate(
    base: Path,
    other: Path,
    alpha: float,
    dst: Path,
    repo: Path,
    names: tuple[str, str] | None = None,
) -> Merge:
    """Write to ``dst`` the checkpoint ``(1 - alpha) * base + alpha * other``.

    ``base`` supplies everything but the weights (class names, ``imgsz``, integer buffers); the
    two must share architecture, tensor shapes and class names, else :class:`MergeError` names
    the first difference. ``names`` (e.g. registry versions) label the sources in the recipe
    saved with the checkpoint; their file names otherwise.
    """
    from training.checkpoints import save_portable

    if not 0.0 <= alpha <= 1.0:
        raise MergeError(f"alpha must be within [0, 1], got {alpha}")
    a, b = _load(base), _load(other)
    ma, mb = a["model"], b["model"]
    if dict(ma.names) != dict(mb.names):
        raise MergeError(f"class names differ: {base} {ma.names} vs {other} {mb.names}")
    sa, sb = ma.state_dict(), mb.state_dict()
    if sa.keys() != sb.keys():
        first = sorted(sa.keys() ^ sb.keys())[0]
        raise MergeError(
            f"architectures differ: tensor {first!r} is in only one of {base}, {other}"
        )
    merged = {}
    for key, ta in sa.items():
        tb = sb[key]
        if ta.shape != tb.shape:
            raise MergeError(
                f"tensor {key!r} has shape {tuple(ta.shape)} in {base}, {tuple(tb.shape)} in {other}"
            )
        if ta.is_floating_point():
            mix = (1.0 - alpha) * ta.float() + alpha * tb.float()
            merged[key] = mix.to(ta.dtype)
        else:
            merged[key] = ta.clone()
    out = copy.copy(a)
    out["model"] = copy.deepcopy(ma)
    out["model"].load_state_dict(merged)
    merge = Merge(dst, *(names or (base.name, other.name)), alpha)
    out["train_args"] = {**dict(a.get("train_args") or {}), "merge": merge.as_args()}
    out.update(epoch=-1, best_fitness=None, train_metrics={}, train_results={},
               date=datetime.now(timezone.utc).isoformat(timespec="seconds"))  # fmt: skip
    save_portable(out, dst, repo)
    return merge


def register_merge(
    registry: ModelRegistry,
    version: str,
    base: str,
    other: str,
    alpha: float,
    metrics: dict[str, Any] | None = None,
    promote: bool = False,
) -> ModelVersion:
    """Interpolate two registered detector versions into ``<registry>/<version>.pt`` and register
    it, ``base`` as its parent and the recipe (both sources, ``alpha``) as its ``train_args``."""
    from training.checkpoints import detector_sources

    mb, mo = detector_sources(registry, version, (base, other), MergeError)
    dst = registry.root / f"{version}.pt"
    merge = interpolate(
        registry.resolve_path(mb), registry.resolve_path(mo), alpha, dst,
        registry.root.resolve().parent, names=(base, other),
    )  # fmt: skip
    fingerprint = mb.data_fingerprint if mb.data_fingerprint == mo.data_fingerprint else None
    mv = ModelVersion.new(
        version,
        "detector",
        dst.name,
        parent=base,
        data_fingerprint=fingerprint,
        train_args={"merge": merge.as_args(), "imgsz": mb.train_args.get("imgsz")},
        metrics=metrics or {},
    )
    registry.register(mv, promote=promote)
    return mv
