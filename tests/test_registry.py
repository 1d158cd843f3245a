"""Model registry: register, promote per kind, roll back, variants, atomic writes, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from monitor.registry import DEFAULT_MODELS_DIR, ModelRegistry, ModelVersion


def _mv(version: str, kind: str = "detector", **kw) -> ModelVersion:
    return ModelVersion(version.rsplit("-v", 1)[0], version, kind, f"{version}.pt", **kw)


@pytest.fixture()
def reg(tmp_path: Path) -> ModelRegistry:
    r = ModelRegistry(tmp_path)
    for v in ("det-v1", "det-v2", "det-v3"):
        r.register(_mv(v, metrics={"map50": 0.5}))
    r.register(_mv("anom-v1", "anomaly"))
    for v in ("det-v1", "det-v2", "det-v3", "anom-v1", "anom-v2"):
        (tmp_path / f"{v}.pt").write_bytes(b"weights")
    return r


def test_promote_and_rollback_refuse_a_version_whose_weights_are_gone(reg: ModelRegistry) -> None:
    reg.promote("det-v1")
    reg.promote("det-v2")
    (reg.root / "det-v3.pt").unlink()
    with pytest.raises(FileNotFoundError, match=r"cannot promote det-v3: its weights .*det-v3.pt"):
        reg.promote("det-v3")
    (reg.root / "det-v1.pt").unlink()
    with pytest.raises(FileNotFoundError, match="cannot roll back to det-v1"):
        reg.rollback()
    assert reg.promoted().version == "det-v2"  # type: ignore[union-attr]
    res = CliRunner().invoke(app, ["models", "rollback", "--kind", "anomaly",
                                   "--models-dir", str(reg.root)])  # fmt: skip
    assert res.exit_code == 2 and "no earlier promoted anomaly" in res.output, res.output


def test_missing_file_is_an_empty_registry(tmp_path: Path) -> None:
    r = ModelRegistry(tmp_path / "nowhere")
    assert r.list() == [] and r.promoted() is None and r.promoted("anomaly") is None
    assert not r.file.exists()


def test_promote_and_rollback_change_the_promoted_model(reg: ModelRegistry) -> None:
    assert reg.promoted() is None
    reg.promote("det-v1")
    reg.promote("det-v3")
    assert reg.promoted().version == "det-v3"
    reg.promote("det-v2")
    assert reg.rollback().version == "det-v3"
    assert reg.promoted().version == "det-v3"
    assert reg.rollback("detector").version == "det-v1"
    with pytest.raises(ValueError, match="no earlier promoted detector"):
        reg.rollback()
    assert reg.promoted().version == "det-v1"


def test_kinds_are_promoted_independently(reg: ModelRegistry) -> None:
    reg.register(_mv("anom-v2", "anomaly"), promote=True)
    reg.promote("det-v2")
    reg.promote("anom-v1")
    assert reg.promoted("anomaly").version == "anom-v1"
    assert reg.promoted("detector").version == "det-v2"
    assert [m.version for m in reg.list("anomaly")] == ["anom-v1", "anom-v2"]
    assert reg.rollback("anomaly").version == "anom-v2"
    assert reg.promoted("detector").version == "det-v2"


def test_state_persists_across_instances(reg: ModelRegistry) -> None:
    reg.promote("det-v2")
    again = ModelRegistry(reg.root)
    assert again.promoted().version == "det-v2"
    assert again.get("det-v1").metrics == {"map50": 0.5}
    assert [m.version for m in again.list("detector")] == ["det-v1", "det-v2", "det-v3"]


def test_unknown_and_duplicate_versions_are_clear_errors(reg: ModelRegistry) -> None:
    with pytest.raises(KeyError, match="det-v9.*registered: det-v1, det-v2"):
        reg.get("det-v9")
    with pytest.raises(KeyError):
        reg.promote("det-v9")
    with pytest.raises(ValueError, match="already registered"):
        reg.register(_mv("det-v1"))
    with pytest.raises(ValueError, match="kind must be one of"):
        _mv("x-v1", "classifier")


def test_variants_resolve_to_absolute_paths(reg: ModelRegistry) -> None:
    mv = reg.add_variant("det-v1", "onnx", reg.root / "det-v1.onnx")
    assert mv.variants == {"onnx": "det-v1.onnx"}
    assert reg.resolve_path(reg.get("det-v1"), "onnx") == (reg.root / "det-v1.onnx").resolve()
    assert reg.resolve_path(mv).is_absolute() and reg.resolve_path(mv).name == "det-v1.pt"
    with pytest.raises(KeyError, match="no variant 'openvino'.*onnx"):
        reg.resolve_path(mv, "openvino")
    assert reg.update_metrics("det-v1", {"map50_95": 0.3}).metrics == {
        "map50": 0.5,
        "map50_95": 0.3,
    }


def test_writes_are_atomic_and_leave_no_temp_files(reg: ModelRegistry) -> None:
    reg.promote("det-v1")
    before = reg.file.read_text()
    with pytest.raises(TypeError):  # not JSON-serialisable: the write fails half way
        reg.register(_mv("det-v4", metrics={"bad": object()}))
    assert reg.file.read_text() == before
    assert not [p.name for p in reg.root.iterdir() if p.suffix not in (".json", ".pt")]
    assert json.loads(before)["promoted"] == {"detector": "det-v1"}


def test_cli_models_commands(reg: ModelRegistry) -> None:
    runner = CliRunner()
    d = ["--models-dir", str(reg.root)]
    assert runner.invoke(app, ["models", "promote", "det-v1", *d]).exit_code == 0
    assert runner.invoke(app, ["models", "promote", "det-v2", *d]).exit_code == 0
    listed = runner.invoke(app, ["models", "list", *d])
    assert listed.exit_code == 0 and "det-v3" in listed.output and "anom-v1" in listed.output
    rolled = runner.invoke(app, ["models", "rollback", *d])
    assert rolled.exit_code == 0 and "det-v1" in rolled.output
    assert ModelRegistry(reg.root).promoted().version == "det-v1"


def test_project_registry_promotes_an_existing_detector() -> None:
    reg = ModelRegistry(DEFAULT_MODELS_DIR)
    mv = reg.promoted("detector")
    assert mv is not None, f"no promoted detector in {reg.file}"
    path = reg.resolve_path(mv)
    assert path.is_file() and path.stat().st_size < 20e6
    # Issue 13's rule: promoted only if it beats both teachers and the old default on PETS gt 41-60.
    held = mv.metrics["pets_heldout_41_60"]
    own = held[mv.version]["predict"]
    for rival in ("nanodet", "centernet", "pets09-person-v1"):
        assert own["map50"] > held[rival]["predict"]["map50"], rival
        assert own["map50_95"] > held[rival]["predict"]["map50_95"], rival
    assert "pets09-person-v1" in {m.version for m in reg.list("detector")}  # kept registered
    for variant in mv.variants:
        assert reg.resolve_path(mv, variant).is_file()
