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


def key_problem(key: str) -> str | None:
    """What makes `key` unusable in an HTTP header, said without showing any of it."""
    for position, char in enumerate(key, start=1):
        if char in "\r\n":
            return f"contains a line break (character {position} of {len(key)})"
        if not char.isascii():
            return f"contains a character that is not plain ASCII (character {position})"
        if not char.isprintable() or char.isspace():
            return f"contains a space or control character (character {position})"
    return None


def _forms(key: str) -> list[str]:
    """The key as it may show in a message: as is, escaped (repr, bytes repr), line by line."""
    forms = {key, repr(key)[1:-1], str(key.encode("utf-8", "backslashreplace"))[2:-1]}
    forms.update(part for part in key.splitlines() if len(part) >= 8)
    return sorted((form for form in forms if len(form) >= 4), key=len, reverse=True)


def redact(text: str) -> str:
    """Text with the user's API key (if set and present, in any form) replaced by asterisks."""
    key = from_env()
    if len(key) < 4:
        return text
    for form in _forms(key):
        if form in text:
            text = text.replace(form, MASK)
    return text


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
