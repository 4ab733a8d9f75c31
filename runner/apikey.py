"""The API key: where it comes from, and how it is kept out of everything we show or write."""

from __future__ import annotations

import os

from runner.diagnostics import Diagnostic, Span

ENV_KEY = "ONEMIN_API_KEY"
MASK = "********"
KEY_HINT = (
    f"remove the key from the file; backdrop reads it from the {ENV_KEY} environment variable, "
    "so it never needs to be written down"
)


def from_env() -> str:
    return os.environ.get(ENV_KEY, "").strip()


def searchable_key() -> str | None:
    """The key, when it is long enough to search for in files without false alarms."""
    key = from_env()
    return key if len(key) >= 8 else None


def redact(text: str) -> str:
    """Text with the user's API key (if set and present) replaced by asterisks."""
    key = from_env()
    return text.replace(key, MASK) if len(key) >= 4 and key in text else text


def find_key_in_text(
    text: str, file: str, *, what: str = "this file", hint: str = KEY_HINT
) -> Diagnostic | None:
    """A diagnostic at the first place `text` holds the API key (the line shown redacted)."""
    key = searchable_key()
    if key is None or key not in text:
        return None
    index = text.index(key)
    line = text.count("\n", 0, index)
    col = index - (text.rfind("\n", 0, index) + 1)
    shown = text.splitlines()[line].replace(key, MASK)
    return Diagnostic(
        f"{what} contains your API key (the value of {ENV_KEY})",
        span=Span(file, line + 1, col + 1, col + 1 + len(MASK), shown),
        hint=hint,
        file=file,
    )
