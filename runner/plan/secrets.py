"""The user's API key must not sit in an axis file either: find it, never show it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from runner.diagnostics import Diagnostic, Span

ENV_KEY = "ONEMIN_API_KEY"
KEY_HINT = (
    f"remove the key from the file; backdrop reads it from the {ENV_KEY} environment variable, "
    "so it never needs to be written down"
)


def api_key() -> str | None:
    """The key from the environment, when it is long enough to search for without noise."""
    key = os.environ.get(ENV_KEY, "")
    return key if len(key) >= 8 else None


def find_key_in_text(text: str, file: str) -> Diagnostic | None:
    """A diagnostic at the first place `text` holds the API key (the line shown redacted)."""
    key = api_key()
    if key is None or key not in text:
        return None
    index = text.index(key)
    line = text.count("\n", 0, index)
    col = index - (text.rfind("\n", 0, index) + 1)
    shown = text.splitlines()[line].replace(key, "********")
    return Diagnostic(
        f"this file contains your API key (the value of {ENV_KEY})",
        span=Span(file, line + 1, col + 1, col + 9, shown),
        hint=KEY_HINT,
        file=file,
    )


def contains_key(value: Any) -> bool:
    """Whether any text inside `value` (mapping keys included) holds the API key."""
    key = api_key()
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
