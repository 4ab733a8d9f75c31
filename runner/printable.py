"""Text fit for a terminal: control characters from a recipe or CSV are shown, never obeyed.

A value such as "\\x1b]0;pwned\\x07" (a window title), "\\x1b[2J" (a screen clear), a colour
code or a right-to-left override must not act on the terminal of whoever runs `validate`, `plan`
or `run` on a pull request. Every line the CLI prints goes through `printable`.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls (0x9b is a one-byte CSI), bidirectional
# overrides and isolates, and the line and paragraph separators.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_CONTROLS_AND_NEWLINES = re.compile(f"[\n{_CONTROLS.pattern[1:-1]}]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` with every control character written out (ESC -> \\x1b); newlines and tabs kept."""
    return _CONTROLS.sub(_shown, text)


def one_line(text: str) -> str:
    """printable, and newlines written out too: for a value shown inside one line of output."""
    return _CONTROLS_AND_NEWLINES.sub(_shown, text)


def json_printable(text: str) -> str:
    """JSON text with the characters `printable` writes out given as \\uXXXX escapes instead:
    the same JSON value, inert in a terminal (json.dumps keeps C1 and bidi characters raw)."""
    return _CONTROLS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


SHOWN_CHARS = 80  # the most of a value a message quotes


def clipped_repr(value: object, limit: int = SHOWN_CHARS) -> str:
    """repr(value) for a message, cut short with its length when long: a rendered value may be
    a million characters, and one message per job must not hold it whole."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    return repr(value)
