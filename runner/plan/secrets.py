"""The user's API key must not sit in an axis file or a rendered value: find it, never show it."""

from __future__ import annotations

import re
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


# A key in someone's format ("sk-" and a long token with digits), for keys other than the user's
# own: a recipe must not send or write any. Long and specific, so prompts do not trip it.
_KEY_SHAPE = re.compile(r"(?<![A-Za-z0-9])sk-(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{16,}")


def rendered_secret(text: str, key: str | None) -> str | None:
    """What kind of key `text` holds (never the key itself), or None; `key`: searchable_key()."""
    if key is not None and key in text:
        return f"your API key (the value of {ENV_KEY})"
    if "sk-" in text and _KEY_SHAPE.search(text):
        return "a string shaped like an API key ('sk-' and a long code)"
    return None
