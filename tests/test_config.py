"""Config tree: YAML files in configs/ load, and errors name the field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError, MonitorConfig, load_config, parse_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path: Path) -> None:
    cfg = load_config(path)
    assert isinstance(cfg, MonitorConfig)


def test_default_yaml_matches_builtin_defaults() -> None:
    shipped = load_config(Path(__file__).resolve().parents[1] / "configs" / "default.yaml")
    assert shipped == MonitorConfig()


@pytest.mark.parametrize(
    ("data", "field_path"),
    [
        ({"model": {"imgsz": 500}}, "model.imgsz"),
        ({"model": {"conf": 1.5}}, "model.conf"),
        ({"model": {"wieghts": "x.pt"}}, "model.wieghts"),
        ({"tracker": {"type": "sort"}}, "tracker.type"),
        (
            {"rules": {"zones": [{"name": "z", "polygon": [[0, 0], [1, 1]]}]}},
            "rules.zones.0.polygon",
        ),
        ({"rules": {"lines": [{"name": "l", "start": [0, 0]}]}}, "rules.lines.0.end"),
        ({"rules": {"crowd": [{"name": "c", "max_count": -1}]}}, "rules.crowd.0.max_count"),
        ({"store": {"busy_timeout_ms": "soon"}}, "store.busy_timeout_ms"),
        ({"outputs": {"video_codec": "h264x"}}, "outputs.video_codec"),
    ],
)
def test_errors_name_the_field(data: dict, field_path: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(data, "test.yaml")
    assert field_path in str(exc.value)
    assert "test.yaml" in str(exc.value)


def test_duplicate_rule_names_rejected() -> None:
    zone = {"name": "same", "polygon": [[0, 0], [1, 0], [1, 1]]}
    with pytest.raises(ConfigError, match="same"):
        parse_config({"rules": {"zones": [zone], "loitering": [{"name": "same", "seconds": 3}]}})


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    bad = tmp_path / "evil.yaml"
    bad.write_text("model: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_missing_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(lst)


ZONE = {"name": "door", "polygon": [[0, 0], [10, 0], [10, 10]]}
LINE = {"name": "gate", "start": [0, 5], "end": [10, 5]}


def test_camera_sections_override_and_inherit_the_global_ones() -> None:
    cfg = parse_config(
        {
            "rules": {"zones": [ZONE], "lines": [LINE]},
            "anomaly": {"cooldown_s": 4.0},
            "cameras": [
                {"id": "plain", "uri": "file:a.mp4"},
                {"id": "own", "uri": "rtsp://cam/1", "rules": {"zones": []},
                 "anomaly": {"severity": "critical"},
                 "privacy_masks": [[[0, 0], [0.5, 0], [0.5, 0.5]]], "mask_units": "norm"},
            ],
        }
    )  # fmt: skip
    plain, own = cfg.camera("plain"), cfg.camera("own")
    assert plain is not None and own is not None
    assert [r.name for r in plain.rules.zones] == ["door"] and plain.rules.lines[0].name == "gate"
    assert own.rules.zones == [] and [r.name for r in own.rules.lines] == ["gate"]
    assert own.anomaly.severity == "critical" and own.anomaly.cooldown_s == 4.0
    assert plain.anomaly == cfg.anomaly
    assert own.privacy_masks == (((0, 0), (0.5, 0), (0.5, 0.5)),) and own.mask_units == "norm"
    assert cfg.camera("nope") is None


@pytest.mark.parametrize(
    ("cameras", "message"),
    [
        ([{"id": "a", "uri": "x"}, {"id": "a", "uri": "y"}], "camera ids must be unique"),
        ([{"id": "a b", "uri": "x"}], "cameras.0.id"),
        ([{"id": "a", "uri": "x", "rules": {"zones": [{"name": "z"}]}}],
         "cameras.0.rules.zones.0.polygon"),
        ([{"id": "a", "uri": "x", "anomaly": {"cooldown_s": -1}}], "cameras.0.anomaly.cooldown_s"),
        ([{"id": "a", "uri": "x", "privacy_masks": [[[0, 0], [1, 1]]]}], "cameras.0.privacy_masks"),
        ([{"id": "a", "url": "x"}], "cameras.0.url"),
    ],
)  # fmt: skip
def test_camera_errors_name_the_field(cameras: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_config({"cameras": cameras})


def test_backend_is_a_discriminated_union() -> None:
    assert parse_config({}).model.backend == "auto"
    assert parse_config({"model": {"threads": 1}}).model.threads == 1  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="model"):
        parse_config({"model": {"backend": "no-such-runtime"}})


def test_a_config_that_is_not_utf8_text_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "cam.yaml"
    cfg.write_bytes(b"model:\n  conf: 0.3\n  name: \xff\xfe\n")
    with pytest.raises(ConfigError, match=rf"{cfg}: not UTF-8 text \(byte 27"):
        load_config(cfg)
