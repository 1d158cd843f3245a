"""Contract tests over the plugin registries: every rule type and detector backend is complete."""

from __future__ import annotations

import typing

import numpy as np
import pytest

from monitor.detectors import BACKENDS, DetectorConfigBase
from monitor.rules import RULE_TYPES, Rule, RuleConfigBase, RulesConfig
from monitor.sources import FrameSource

MINIMAL_RULE = {
    "zones": {"polygon": [[0, 0], [50, 0], [50, 50]]},
    "lines": {"start": [0, 10], "end": [50, 10]},
    "loitering": {"seconds": 1},
    "crowd": {"max_count": 1},
}


@pytest.mark.parametrize("section", sorted(RULE_TYPES))
def test_every_rule_type_has_config_trigger_and_draw(section: str) -> None:
    cls = RULE_TYPES[section]
    assert issubclass(cls, Rule) and issubclass(cls.config, RuleConfigBase)
    assert cls.trigger is not Rule.trigger and cls.draw is not Rule.draw
    assert section in RulesConfig.model_fields, "RulesConfig is built from the registry"
    assert section in MINIMAL_RULE, f"add a minimal {section} config to this test"
    cfg = RulesConfig.model_validate({section: [{"name": "r", **MINIMAL_RULE[section]}]})
    [rule_cfg] = getattr(cfg, section)
    rule = cls(rule_cfg)
    img = np.zeros((60, 60, 3), np.uint8)
    rule.draw(img)
    assert section in ("loitering", "crowd") or img.any(), "geometry must be drawn"


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_every_backend_has_a_tagged_config_and_a_detector(name: str) -> None:
    cfg_cls, det_cls = BACKENDS[name]
    assert issubclass(cfg_cls, DetectorConfigBase)
    tag = cfg_cls.model_fields["backend"]
    assert typing.get_args(tag.annotation) == (name,) and tag.default == name
    # ``auto`` builds another backend's detector; the others are detector classes.
    assert callable(det_cls) and (name == "auto" or callable(getattr(det_cls, "detect", None)))


def test_sources_selected_by_kind(pets_subset) -> None:
    from monitor.sources import discover_inputs

    [spec] = discover_inputs([pets_subset])
    src = FrameSource.open(spec)
    assert src.fps == 7 and src.size == (768, 576)
