"""The user's API key must not sit in an axis file either: find it, never show it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.apikey import ENV_KEY, KEY_HINT, searchable_key
from runner.diagnostics import Diagnostic


def contains_key(value: Any) -> bool:
    """Whether any text inside `value` (mapping keys included) holds the API key."""
    key = searchable_key()
    return key is not None and _contains(value, key)


def _contains(value: Any, key: str) -> bool:
    if isinstance(value, str):
        return key in value
    if isinstance(value, Mapping):
        return any(_contains(k, key) or _contains(v, key) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains(item, key) for item in value)
    return False


def key_in_values(value: Any, file: str) -> Diagnostic | None:
    """A diagnostic (without a line: escapes may hide it in the text) when a value holds the key."""
    if not contains_key(value):
        return None
    return Diagnostic(
        f"a value in this file contains your API key (the value of {ENV_KEY})",
        hint=KEY_HINT,
        file=file,
    )
