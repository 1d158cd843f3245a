"""Checkpoints as the registry keeps them: the weights and their arguments, no trace of the machine.

ultralytics saves the absolute paths of the run (``train_args``: model, data, project) and the
git remote of whatever repository encloses the Python environment into every ``.pt``. Those travel
with a published model; here paths under the home folder become ``~/...``, paths inside the
repository become repository-relative, and the ``git`` record is dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.registry import ModelRegistry, ModelVersion


def portable_path(value: str, repo: Path, home: Path | None = None) -> str:
    """``value`` relative to ``repo`` when inside it, ``~/...`` when under ``home``, else as is.

    >>> portable_path("/srv/app/models/a.pt", Path("/srv/app"), Path("/root"))
    'models/a.pt'
    >>> portable_path("/root/.cache/x/data.yaml", Path("/srv/app"), Path("/root"))
    '~/.cache/x/data.yaml'
    >>> portable_path("yolov8n.yaml", Path("/srv/app"), Path("/root"))
    'yolov8n.yaml'
    """
    home = home or Path.home()
    path = Path(value)
    if not path.is_absolute():
        return value
    for root, prefix in ((repo, ""), (home, "~/")):
        if path.is_relative_to(root):
            return prefix + path.relative_to(root).as_posix()
    return value


def write_portable(src: Path, dst: Path, repo: Path, home: Path | None = None) -> dict[str, Any]:
    """Copy the checkpoint ``src`` to ``dst`` with machine paths rewritten; returns its
    ``train_args``."""
    import torch

    return save_portable(torch.load(src, map_location="cpu", weights_only=False), dst, repo, home)


def save_portable(
    ckpt: dict[str, Any], dst: Path, repo: Path, home: Path | None = None
) -> dict[str, Any]:
    """Save the loaded checkpoint ``ckpt`` to ``dst`` (atomically) with machine paths
    rewritten; returns its ``train_args``."""
    import torch

    args = dict(ckpt.get("train_args") or {})
    for key, value in args.items():
        if isinstance(value, str):
            args[key] = portable_path(value, repo, home)
    ckpt["train_args"] = args
    ckpt.pop("git", None)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    torch.save(ckpt, tmp)
    tmp.replace(dst)
    return args


def load_checkpoint(path: Path) -> dict[str, Any]:
    """An ultralytics checkpoint loaded on the CPU; FileNotFoundError / ValueError name ``path``
    when it is missing or holds no model."""
    import torch

    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or ckpt.get("model") is None:
        raise ValueError(f"{path} is not an ultralytics checkpoint (no 'model')")
    return ckpt


def detector_sources(
    registry: ModelRegistry, version: str, sources: tuple[str, ...], error: type[ValueError]
) -> list[ModelVersion]:
    """The registered detectors a new ``version`` is derived from (merge, resize), checked before
    its file is written: ``error`` when ``version`` is taken or a source is not a detector."""
    if any(mv.version == version for mv in registry.list()):
        raise error(f"version {version!r} is already registered in {registry.file}")
    found = [registry.get(name) for name in sources]
    for mv in found:
        if mv.kind != "detector":
            raise error(f"{mv.version} is a {mv.kind} model, not a detector")
    return found
