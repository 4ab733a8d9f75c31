"""Text fit for a terminal and a CI log: control characters and workflow commands from a recipe,
CSV file, review.yaml, backdrop.lock or API answer are shown, never obeyed.

A value such as "\\x1b]0;pwned\\x07" (a window title), "\\x1b[2J" (a screen clear), a colour
code or a right-to-left override must not act on the terminal of whoever runs `validate`, `plan`
or `run` on a pull request. Every line the CLI prints goes through `printable`.

Nor may a value drive the GitHub Actions runner, which reads stdout and stderr line by line
(actions/runner, ActionCommand.cs): a line that starts with "::" once leading white space is
trimmed (`::error file=x::...`, `::stop-commands::TOKEN`, `::add-mask::`), and "##[" anywhere in a
line (the legacy form; Azure Pipelines reads "##vso[" the same way) are commands. The runner
splits lines at CR and LF only, trims .NET white space (NEL, NBSP, U+2028...), and compares with
the culture's rules, which skip default-ignorable characters (zero-width space, soft hyphen,
controls). So the character that would complete a command is written out instead: the second
":" of a line start, the "[" after "##". `CommandGuard` does the same for a stream written piece
by piece (runner/commands/streams.py puts it under sys.stdout and sys.stderr).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# C0 controls but tab and newline, DEL, C1 controls (0x9b is a one-byte CSI), bidirectional
# overrides and isolates, and the line and paragraph separators.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_CONTROLS_AND_NEWLINES = re.compile(f"[\n{_CONTROLS.pattern[1:-1]}]")

# Skipped by a culture-aware comparison (Unicode's Default_Ignorable_Code_Point, and controls):
# "#\u200b#[" can match "##[" in the runner. Written as ranges for one regex character class.
_IGNORABLE = (
    "\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5"
    "\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff"
)
# What .NET's TrimStart removes (Char.IsWhiteSpace) and what Python calls white space, less the
# line breaks, plus the ignorable characters: all of it may stand before a line's "::".
_BLANK = (
    "\t\x0b\x0c\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000" + _IGNORABLE
)
_IGN = f"[{_IGNORABLE}]*"
# The "[" of "##[" or "##vso[" (any case), ignorable characters anywhere between.
_LEGACY = re.compile(f"(#{_IGN}#{_IGN}(?:[vV]{_IGN}[sS]{_IGN}[oO]{_IGN})?)\\[")
# At a line's start: white space, then "::" (the second one completes the command).
_COMMAND_START = re.compile(f"[{_BLANK}]*:{_IGN}:")
_BLANK_LINE = re.compile(f"[{_BLANK}]*")
_ONE_COLON_LINE = re.compile(f"[{_BLANK}]*:{_IGN}")
_IGNORED = re.compile(f"[{_IGNORABLE}]+")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _unicode_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _has_controls(text: str) -> bool:
    """Whether `text` may hold a character of _CONTROLS, answered in C (the regex takes several
    times longer, and the CLI prints 85 MB of JSON for a 100,000-job plan)."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:  # each of _CONTROLS is also unprintable to Python
        return not all(line.isprintable() for line in text.split("\n"))
    return bool(raw.translate(None, _PRINTABLE_LATIN1))


_PRINTABLE_LATIN1 = bytes(
    byte for byte in range(256) if byte in (0x09, 0x0A) or 0x20 <= byte < 0x7F or byte >= 0xA0
)


def printable(text: str) -> str:
    """`text` with every control character written out (ESC -> \\x1b); newlines and tabs kept;
    no line of it a workflow command."""
    return defang_commands(_CONTROLS.sub(_shown, text) if _has_controls(text) else text)


def controls_shown(text: str) -> str:
    """Only the control characters of `text` written out (for formats that escape the rest)."""
    return _CONTROLS.sub(_shown, text)


def one_line(text: str) -> str:
    """printable, and newlines written out too: for a value shown inside one line of output."""
    return _LEGACY.sub(_written_out("\\x5b"), _CONTROLS_AND_NEWLINES.sub(_shown, text))


def json_printable(text: str) -> str:
    """JSON text with the characters `printable` writes out given as \\uXXXX escapes instead:
    the same JSON value, inert in a terminal (json.dumps keeps C1 and bidi characters raw) and
    in a CI log ("##[" becomes "##\\u005b" inside a string)."""
    if _has_controls(text):
        text = _CONTROLS.sub(_unicode_escape, text)
    return _LEGACY.sub(_written_out("\\u005b"), text) if "#" in text else text


def defang_commands(text: str, *, escape: str = "\\x") -> str:
    """`text` with no line a workflow command: the completing character written out."""
    colon, bracket = ("\\x3a", "\\x5b") if escape == "\\x" else ("\\u003a", "\\u005b")
    if "#" in text:
        text = _LEGACY.sub(_written_out(bracket), text)
    if ":" not in text:
        return text
    # Line by line with str.find (a regex scan for line starts costs far more, see _has_controls).
    completing = []
    for start in _line_starts(text):
        command = _COMMAND_START.match(text, start)
        if command is not None:
            completing.append(command.end() - 1)
    pieces = []
    done = 0
    for at in sorted(completing):
        pieces += [text[done:at], colon]
        done = at + 1
    return "".join(pieces) + text[done:]


def _line_starts(text: str) -> list[int]:
    """0 and every position after a CR or an LF (unordered)."""
    starts = [0]
    for line_break in "\n\r":
        at = text.find(line_break)
        while at >= 0:
            starts.append(at + 1)
            at = text.find(line_break, at + 1)
    return starts


def _written_out(shown: str) -> Callable[[re.Match[str]], str]:
    """The match's group 1 (what leads up to it), and `shown` for the completing character."""
    return lambda match: match.group(1) + shown


class CommandGuard:
    """Defangs workflow commands in text written piece by piece, however it is cut: a "#" in
    one write and "#[" in the next, or a line's first ":" flushed alone, are still seen.

    What is remembered of the current line is its start ("" while only white space has been
    written, ":" after one colon) or, past that, its last few characters (enough for "##vso").
    Completing characters are written as \\u003a and \\u005b: inert in a log, and the same value
    inside a JSON string (a JSON document is never broken by the guard).
    """

    def __init__(self) -> None:
        self._line = ""  # "", ":" or "x" + the line's last non-ignorable characters
        self.at_line_start = True  # nothing written since the last line break

    def feed(self, text: str) -> str:
        if not text:
            return text
        before = self._line
        guarded = defang_commands(before + text, escape="\\u")
        self._line = _line_state(guarded)
        self.at_line_start = text[-1] in "\r\n"
        # Only characters of `text` are ever replaced: what `before` stands for was written.
        return guarded[len(before) :]

    def line_broken(self) -> None:
        """Someone else wrote a line break (an own workflow command): a new line starts."""
        self._line = ""
        self.at_line_start = True


def _line_state(guarded: str) -> str:
    """What CommandGuard keeps of the last (unfinished) line of `guarded`."""
    last = guarded[max(guarded.rfind("\n"), guarded.rfind("\r")) + 1 :]
    if _BLANK_LINE.fullmatch(last):
        return ""
    if _ONE_COLON_LINE.fullmatch(last):
        return ":"
    return "x" + _last_visible(last, 5)


def _last_visible(line: str, count: int) -> str:
    """The last `count` characters of `line` that are not ignorable."""
    tail = line[-count:]
    if tail.isascii() and tail.isprintable():  # the usual case: none of them is ignorable
        return tail
    size = 64
    while True:
        tail = _IGNORED.sub("", line[-size:])
        if len(tail) >= count or size >= len(line):
            return tail[-count:]
        size *= 4


def _styled_or_shown(match: re.Match[str]) -> str:
    text = match.group()
    return text if text == "\r" or len(text) > 1 else _unicode_escape(match)


# Rich's own styles and cursor moves (CSI sequences) and carriage returns pass; nothing else.
_STYLED = re.compile(f"\x1b\\[[0-?]*[ -/]*[@-~]|{_CONTROLS.pattern}")


def inert(text: str, *, styled: bool = False) -> str:
    """What a stream may pass on: controls as \\u001b (valid inside a JSON string too); with
    `styled`, rich's CSI sequences and CR are kept."""
    if not _has_controls(text):
        return text
    substitute: Callable[[re.Match[str]], str] = _styled_or_shown if styled else _unicode_escape
    return (_STYLED if styled else _CONTROLS).sub(substitute, text)


SHOWN_CHARS = 80  # the most of a value a message quotes


def clipped_repr(value: object, limit: int = SHOWN_CHARS) -> str:
    """repr(value) for a message, cut short with its length when long: a rendered value may be
    a million characters, and one message per job must not hold it whole."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    return repr(value)
