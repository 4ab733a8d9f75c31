"""How matrix values are named, compared and flattened in reports.

An axis value may be a scalar or a mapping (a CSV row, an inline product). Reports show a short
label (a mapping's first value), compare values by their canonical JSON, and flatten mappings
into dotted columns for spreadsheets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

NOT_SET = "(not set)"  # shown for a job that has no value for an axis (an include-only entry)
_MISSING_IDENTITY = "\x00missing"


def value_label(value: Any) -> str:
    """A short label: a mapping is named by its first value ({sku: MUG-01, ...} -> MUG-01)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return value_label(next(iter(value.values()))) if value else "{}"
    if isinstance(value, list | tuple):
        return ", ".join(value_label(item) for item in value)
    return str(value)


def value_text(value: Any) -> str:
    """The full value as text: scalars as they are, mappings and lists as compact JSON."""
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def value_identity(vars: Mapping[str, Any], axis: str) -> str:
    """A canonical key for a job's value on one axis, equal for equal values."""
    if axis not in vars:
        return _MISSING_IDENTITY
    return json.dumps(vars[axis], sort_keys=True, ensure_ascii=False, default=str)


def axis_label(vars: Mapping[str, Any], axis: str) -> str:
    return value_label(vars[axis]) if axis in vars else NOT_SET


def flatten_value(name: str, value: Any) -> list[tuple[str, str]]:
    """market={code: fr-FR, country: FR} -> [("market.code", "fr-FR"), ("market.country", "FR")]."""
    if isinstance(value, Mapping):
        if not value:
            return [(name, "")]
        out: list[tuple[str, str]] = []
        for key, item in value.items():
            out.extend(flatten_value(f"{name}.{key}", item))
        return out
    if value is None:
        return [(name, "")]
    return [(name, value_text(value))]


def readable_pairs(name: str, value: Any) -> list[tuple[str, str]]:
    """Pairs for people: market={code: fr-FR} -> [("market.code", "fr-FR")], lists as "a, b"."""
    if isinstance(value, Mapping) and value:
        out: list[tuple[str, str]] = []
        for key, item in value.items():
            out.extend(readable_pairs(f"{name}.{key}", item))
        return out
    if isinstance(value, list | tuple):
        return [(name, value_label(value))]
    return [(name, value_text(value))]
