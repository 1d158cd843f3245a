"""Rule-based behaviour checks: one module per rule type, one registry line each.

``RULE_TYPES`` maps a config section (``rules.zones``...) to its rule class; the class carries its
config model (``config``), ``trigger`` and ``draw``. ``RulesConfig``, the engine and the annotator
all read this one dict, so a new rule type is one file plus one line here.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field, create_model, model_validator

from monitor.rules.base import Rule, RuleConfigBase, alert_id, inside
from monitor.rules.crowd import Crowding, CrowdRule
from monitor.rules.line import LineCrossing, LineRule
from monitor.rules.loitering import Loitering, LoiterRule
from monitor.rules.zone import ZoneIntrusion, ZoneRule
from monitor.schema import ConfigBase, ConfigError
from monitor.types import Alert, Detections, Frame

RULE_TYPES: dict[str, type[Rule]] = {
    "zones": ZoneIntrusion,
    "lines": LineCrossing,
    "loitering": Loitering,
    "crowd": Crowding,
}


class _RulesBase(ConfigBase):
    """Rule-based behaviour checks; each section is a list of rules of one type (may be empty)."""

    def all_rules(self) -> list[RuleConfigBase]:
        """Every configured rule, section by section in registry order."""
        return [r for section in RULE_TYPES for r in getattr(self, section)]

    def check_classes(self, known: Collection[str], where: str, model: str) -> None:
        """Refuse a rule whose ``classes`` names a class the detector does not have: a typo there
        would leave the rule silently blind.

        Raises:
            ConfigError: Naming the field (``{where}.zones[0].classes``) and the model's classes.
        """
        for section in RULE_TYPES:
            for i, rule in enumerate(getattr(self, section)):
                bad = [c for c in rule.classes or () if c not in known]
                if bad:
                    near = {c: difflib.get_close_matches(c, list(known), 1) for c in bad}
                    hint = "; ".join(f"{c!r}: did you mean {m[0]!r}?" for c, m in near.items() if m)
                    raise ConfigError(
                        f"{where}.{section}[{i}].classes: {bad} not among the classes of {model}"
                        + (f" ({hint})" if hint else f": {sorted(known)}")
                    )

    @model_validator(mode="after")
    def _unique_names(self) -> _RulesBase:
        names = [r.name for r in self.all_rules()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"rule names must be unique, repeated: {dupes}")
        return self


if TYPE_CHECKING:

    class RulesConfig(_RulesBase):
        """Static view for type checkers; the real class is built from ``RULE_TYPES``."""

        def __init__(self, **data: Any) -> None: ...

        def __getattr__(self, name: str) -> list[Any]: ...

else:
    RulesConfig = create_model(
        "RulesConfig",
        __base__=_RulesBase,
        **{
            section: (
                list[cls.config],
                Field(default_factory=list, description=f"{cls.kind} rules."),
            )
            for section, cls in RULE_TYPES.items()
        },
    )


class RuleEngine:
    """All configured rules, evaluated together on each tracked frame.

    Example:
        >>> engine = RuleEngine(RulesConfig())
        >>> engine.rules
        []
    """

    def __init__(self, cfg: _RulesBase) -> None:
        self.rules: list[Rule] = [
            cls(r) for section, cls in RULE_TYPES.items() for r in getattr(cfg, section)
        ]

    def evaluate(self, frame: Frame, dets: Detections) -> list[Alert]:
        """Alerts started or updated on this frame by any rule."""
        return [a for rule in self.rules for a in rule.trigger(frame, dets)]

    def draw(self, img: np.ndarray) -> None:
        """Every rule's geometry on an annotated frame (in place)."""
        for rule in self.rules:
            rule.draw(img)

    def reset(self, camera_id: str) -> None:
        """Forget one camera's state in every rule."""
        for rule in self.rules:
            rule.reset(camera_id)


__all__ = [
    "RULE_TYPES",
    "CrowdRule",
    "Crowding",
    "LineCrossing",
    "LineRule",
    "LoiterRule",
    "Loitering",
    "Rule",
    "RuleConfigBase",
    "RuleEngine",
    "RulesConfig",
    "ZoneIntrusion",
    "ZoneRule",
    "alert_id",
    "inside",
]
