"""Shared pieces of the config tree: the strict pydantic base, point and severity types, errors.

Kept apart from ``monitor.config`` so plugin modules (detector backends, rules) can define their
own config classes without importing the whole tree (no import cycle).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Point = tuple[float, float]
Severity = Literal["info", "warning", "critical"]


class ConfigError(ValueError):
    """A config file could not be read or did not validate; the message names file and field."""


class ConfigBase(BaseModel):
    """Strict, frozen base: unknown keys are errors (``extra="forbid"``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
