"""Model registry: versions, lineage, data fingerprints, metrics and which model is promoted.

One JSON file (``models/registry.json``) beside the weights; pipelines load the promoted model of
their kind when no weights are configured. Every write goes to a temporary file first and is
swapped in with ``os.replace``, so a crash never leaves half a registry. No ultralytics here: the
live path imports this module.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DEFAULT_MODELS_DIR = Path(
    os.environ.get("MONITOR_MODELS_DIR", Path(__file__).resolve().parents[1] / "models")
)
KINDS = ("detector", "anomaly")
SCHEMA = 1


@dataclass(frozen=True)
class ModelVersion:
    """One registered model file and where it came from.

    Args:
        name: Model family, e.g. ``pets09-person``.
        version: Unique id, e.g. ``pets09-person-v1``.
        kind: ``detector`` or ``anomaly``.
        path: Weights file relative to the registry's folder.
        parent: Version it was fine-tuned from, None for a model trained from scratch.
        data_fingerprint: Fingerprint of the training dataset (see ``training.datasets``).
        train_args: Training arguments (epochs, imgsz, ...).
        metrics: Evaluation results (held-out mAP ...).
        created: ISO-8601 time of registration.
        variants: Export name -> file relative to the registry's folder (``onnx``, ``onnx-int8``).

    Example:
        >>> mv = ModelVersion("m", "m-v1", "detector", "m.pt")
        >>> mv.variants
        {}
    """

    name: str
    version: str
    kind: str
    path: str
    parent: str | None = None
    data_fingerprint: str | None = None
    train_args: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    variants: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    @classmethod
    def new(cls, version: str, kind: str, path: str, **fields: Any) -> ModelVersion:
        """A version registered now: its family is the id without ``-vN``.

        >>> ModelVersion.new("m-v2", "detector", "m-v2.pt", parent="m-v1").name
        'm'
        """
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return cls(version.rsplit("-v", 1)[0], version, kind, path, created=created, **fields)

    def merged_from(self) -> str | None:
        """``0.3 x a + 0.7 x b`` for a weight interpolation (``monitor models merge``), else None.

        >>> ModelVersion("m", "m-v3", "detector", "m3.pt",
        ...              train_args={"merge": {"base": "m-v1", "other": "m-v2", "alpha": 0.7}}
        ...              ).merged_from()
        '0.3 x m-v1 + 0.7 x m-v2'
        """
        merge = self.train_args.get("merge")
        if not isinstance(merge, dict) or not {"base", "other", "alpha"} <= merge.keys():
            return None
        a = float(merge["alpha"])
        return f"{1 - a:g} x {merge['base']} + {a:g} x {merge['other']}"


class ModelRegistry:
    """Versions of models and the promoted one per kind, stored in ``root/registry.json``.

    Example:
        >>> import tempfile
        >>> reg = ModelRegistry(tempfile.mkdtemp())
        >>> reg.register(ModelVersion("m", "m-v1", "detector", "m1.pt"), promote=True)
        >>> reg.promoted().version
        'm-v1'
    """

    def __init__(self, root: Path | str = DEFAULT_MODELS_DIR) -> None:
        self.root = Path(root)
        self.file = self.root / "registry.json"

    def _load(self) -> dict[str, Any]:
        if not self.file.is_file():
            return {"schema": SCHEMA, "models": [], "promoted": {}, "history": {}}
        try:
            doc = json.loads(self.file.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.file}: invalid JSON: {err}") from None
        doc.setdefault("models", [])
        doc.setdefault("promoted", {})
        doc.setdefault("history", {})
        return doc

    def _save(self, doc: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".registry.", suffix=".json")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh, indent=2)
                fh.write("\n")
            os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; the registry is shared
            os.replace(tmp, self.file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def list(self, kind: str | None = None) -> list[ModelVersion]:
        """Registered versions in registration order, optionally of one kind."""
        models = [ModelVersion(**m) for m in self._load()["models"]]
        return [m for m in models if kind is None or m.kind == kind]

    def get(self, version: str) -> ModelVersion:
        """The version named ``version``; KeyError listing the known versions otherwise."""
        for mv in self.list():
            if mv.version == version:
                return mv
        known = ", ".join(m.version for m in self.list()) or "none"
        raise UnknownVersionError(
            f"model version {version!r} not in {self.file} (registered: {known})"
        )

    def register(self, mv: ModelVersion, promote: bool = False) -> None:
        """Add a new version (versions are immutable: a repeated id is a ValueError)."""
        doc = self._load()
        if any(m["version"] == mv.version for m in doc["models"]):
            raise ValueError(f"model version {mv.version!r} is already registered in {self.file}")
        doc["models"].append(asdict(mv))
        if promote:
            self._promote_in(doc, mv)
        self._save(doc)

    def add_variant(self, version: str, variant: str, path: str | Path) -> ModelVersion:
        """Attach an export (e.g. ``onnx``) to a version; ``path`` relative to root, or a path
        (absolute or from the working directory) inside root."""
        p = Path(path)
        if p.is_absolute() or not (self.root / p).exists():
            rel = str(p.resolve().relative_to(self.root.resolve()))
        else:
            rel = str(p)
        return self._update(version, variants={**self.get(version).variants, variant: rel})

    def update_metrics(self, version: str, metrics: dict[str, Any]) -> ModelVersion:
        """Merge ``metrics`` into a version's metrics (e.g. variant speed and mAP)."""
        return self._update(version, metrics={**self.get(version).metrics, **metrics})

    def _update(self, version: str, **changes: Any) -> ModelVersion:
        doc = self._load()
        new = replace(self.get(version), **changes)
        doc["models"] = [asdict(new) if m["version"] == version else m for m in doc["models"]]
        self._save(doc)
        return new

    @staticmethod
    def _promote_in(doc: dict[str, Any], mv: ModelVersion) -> None:
        doc["promoted"][mv.kind] = mv.version
        history = doc["history"].setdefault(mv.kind, [])
        if not history or history[-1] != mv.version:
            history.append(mv.version)

    def promote(self, version: str) -> None:
        """Make ``version`` the one promoted model of its kind; earlier ones stay in history."""
        mv = self.get(version)
        self._require_file(mv, "promote")
        doc = self._load()
        self._promote_in(doc, mv)
        self._save(doc)

    def _require_file(self, mv: ModelVersion, action: str) -> None:
        """ModelNotFoundError naming the file when ``mv``'s weights are not there to run."""
        path = self.resolve_path(mv)
        if not path.is_file():
            raise ModelNotFoundError(
                f"cannot {action} {mv.version}: its weights {path} are missing"
            )

    def rollback(self, kind: str = "detector") -> ModelVersion:
        """Promote again the version promoted before the current one; ValueError if none."""
        doc = self._load()
        history = doc["history"].get(kind, [])
        if len(history) < 2:
            raise ValueError(f"no earlier promoted {kind} to roll back to (history: {history})")
        self._require_file(self.get(history[-2]), "roll back to")
        history.pop()
        doc["promoted"][kind] = history[-1]
        self._save(doc)
        return self.get(history[-1])

    def promoted(self, kind: str = "detector") -> ModelVersion | None:
        """The promoted version of ``kind``, None when nothing is promoted."""
        version = self._load()["promoted"].get(kind)
        return self.get(version) if version else None

    def resolve_path(self, mv: ModelVersion, variant: str | None = None) -> Path:
        """Absolute path of the weights, or of one export variant (KeyError listing variants)."""
        if variant is None:
            rel = mv.path
        elif variant in mv.variants:
            rel = mv.variants[variant]
        else:
            raise KeyError(f"{mv.version} has no variant {variant!r} (has: {sorted(mv.variants)})")
        return (self.root / rel).resolve()


class UnknownVersionError(KeyError):
    """A version name the registry does not hold (a KeyError, printed without quotes)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ModelNotFoundError(FileNotFoundError):
    """No usable model file; the message says what was looked for and how to provide one."""

    @classmethod
    def unreadable(
        cls, weights: Path | str, expected: str, err: BaseException, note: str = ""
    ) -> ModelNotFoundError:
        """A weights file a runtime could not load: the file, what it should have been, and the
        first line of the runtime's reason.

        Example:
            >>> str(ModelNotFoundError.unreadable("m.onnx", "an ONNX model", ValueError("bad")))
            'cannot load detector weights m.onnx: not an ONNX model (ValueError: bad)'
        """
        reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        tail = f". {note}" if note else ""
        return cls(f"cannot load detector weights {weights}: not {expected} ({reason[:200]}){tail}")


TRUST_NOTE = "A .pt file is a Python pickle that can run code when loaded: use only trusted ones."


def _how_to_supply(models_dir: Path, kind: str) -> str:
    if kind == "anomaly":
        return (
            "Train one on normal footage of the camera with `monitor train-anomaly` (it registers "
            f"the model in {models_dir}), or pass an .npz path."
        )
    return (
        "Ways to supply a model: pass --weights PATH (or model.weights in the config) pointing to a "
        f"YOLO .pt/.onnx file; copy the file into {models_dir}; train one offline with "
        "`monitor train` and promote it with `monitor models promote VERSION`; or, on a machine with "
        "internet, download yolo11n.pt from ultralytics and pass its path. Nothing is downloaded here."
    )


def resolve_model(
    ref: str | Path | None, kind: str = "detector", models_dir: Path | str = DEFAULT_MODELS_DIR
) -> Path:
    """The one model resolver: a path, a file in ``models_dir``, a registry version, or (None /
    ``promoted``) the promoted model of ``kind``; never touches the network.

    Raises:
        ModelNotFoundError: nothing matched; the message names what was tried.
    """
    models_dir = Path(models_dir)
    registry = ModelRegistry(models_dir)
    if ref is None or str(ref) == "promoted":
        mv = registry.promoted(kind)
        if mv is None:
            raise ModelNotFoundError(
                f"no {kind} model given and no promoted {kind} in {registry.file}. "
                + _how_to_supply(models_dir, kind)
            )
        path = registry.resolve_path(mv)
        if not path.exists():
            raise ModelNotFoundError(f"promoted {kind} {mv.version} is missing its file {path}")
        return path
    candidates = [Path(ref).expanduser(), models_dir / str(ref)]
    for c in candidates:
        if c.exists():
            return c.resolve()
    try:
        mv = registry.get(str(ref))
    except KeyError:
        mv = None
    if mv is not None and mv.kind != kind:
        raise ModelNotFoundError(f"{mv.version} is a {mv.kind} model, not a {kind} model")
    if mv is not None and registry.resolve_path(mv).exists():
        return registry.resolve_path(mv)
    tried = ", ".join(str(c) for c in candidates)
    raise ModelNotFoundError(
        f"{kind} model not found: {str(ref)!r} (looked at {tried} and the registry versions). "
        + _how_to_supply(models_dir, kind)
    )
