"""One error type for everything a user can get wrong, rendered with a position and a caret.

Only the CLI prints these; the core raises them.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runner.pastedtext import INVISIBLE
from runner.printable import one_line, printable

# Exit codes, documented in the README. The CLI maps errors to them in one place.
EXIT_OK = 0
EXIT_JOBS_FAILED = 1
EXIT_USAGE = 2  # invalid recipe or bad usage
EXIT_ABORTED = 3  # the run was stopped: bad key, no credits, output folder locked, API unreachable
EXIT_INTERNAL = 70  # a bug in backdrop
EXIT_INTERRUPTED = 130  # Ctrl-C


SNIPPET_WIDTH = 120  # characters of a source line shown under a message, at most

# A file with thousands of mistakes is reported by its first ones and a count: the rest would
# take long to read, and each fix often removes many.
MAX_SHOWN = 50


@functools.lru_cache(maxsize=4)
def source_lines(text: str) -> tuple[str, ...]:
    """The lines of a source text, split once however many diagnostics point into it.

    (Splitting per diagnostic made 16,000 mistakes in one review.yaml take 30 s.) A string
    caches its own hash, so looking the same text up again costs nothing.
    """
    return tuple(text.splitlines()) or ("",)


@dataclass(frozen=True)
class Span:
    """A place in a source file. Lines and columns are 1-based; end_col is exclusive.

    In a workbook, `sheet` is set: `line` is the row, `col` the column, and `text` the cell's
    value; the place reads `book.xlsx[Sheet]!C7`, as spreadsheet people name cells.
    """

    file: str
    line: int
    col: int
    end_col: int
    text: str  # the source line (or the cell's value), for the snippet
    cut: int = 0  # characters of the line left out before `text` (a long line's window)
    sheet: str | None = None

    @property
    def cell(self) -> str | None:
        """`C7` for a workbook cell, else None."""
        return None if self.sheet is None else f"{column_letters(self.col)}{self.line}"

    def __str__(self) -> str:
        if self.sheet is not None:
            return f"{self.file}[{self.sheet}]!{self.cell}"
        return f"{self.file}:{self.line}:{self.col}"


def column_letters(column: int) -> str:
    """A spreadsheet column's letters from its 1-based number: 1 -> A, 28 -> AB."""
    letters = ""
    while column > 0:
        column, rest = divmod(column - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters or "A"


@dataclass(frozen=True)
class Diagnostic:
    """One problem: where it is, what it is, and what to do about it."""

    message: str
    path: str = ""  # the path inside the recipe, e.g. "defaults.quality" or "matrix.include[0]"
    span: Span | None = None
    hint: str | None = None
    severity: Literal["error", "warning"] = "error"
    file: str | None = None  # when there is no span but the file is known
    hidden: int = 0  # above 0: this only counts that many problems not shown

    @property
    def problems(self) -> int:
        """How many problems this stands for."""
        return self.hidden or 1

    def headline(self) -> str:
        where = str(self.span) if self.span else (self.file or "")
        prefix = f"{where}: " if where else ""
        path = f"{self.path}: " if self.path else ""
        return f"{prefix}{self.severity}: {path}{self.message}"

    def render(self) -> str:
        """For a terminal: control characters in recipe text are written out, never obeyed."""
        lines = [printable(self.headline())]
        if self.span is not None:
            gutter = self.span.cell or str(self.span.line)
            pad = " " * len(gutter)
            text = self.span.text.rstrip("\n").expandtabs(1)
            start = min(max(self.span.col - 1 - self.span.cut, 0), len(text))
            end = max(start + 1, min(self.span.end_col - 1 - self.span.cut, len(text)))
            if self.span.cell is not None:  # a cell: its whole value is the place
                start, end = 0, max(1, len(text))
            text, start, end = _window(text, start, end)
            # The caret sits under the same characters once they are written out (invisible
            # ones too, so that the caret shows what it points at).
            before, marked = _shown(text[:start]), _shown(text[start:end]) or " "
            lines.append(f"    {gutter} | {before}{marked}{_shown(text[end:])}")
            lines.append(f"    {pad} | {' ' * len(before)}{'^' * len(marked)}")
        if self.hint:
            lines.append(printable(f"    hint: {self.hint}"))
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "file": self.span.file if self.span else self.file,
            "line": self.span.line if self.span else None,
            "column": self.span.col if self.span else None,
            "end_column": self.span.end_col if self.span else None,
            "sheet": self.span.sheet if self.span else None,  # a workbook's: line = row
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }


SNIPPET_CONTEXT = 60  # characters shown on each side of what a diagnostic points at
SNIPPET_MARKED = 120  # characters of it shown (and underlined)


def _window(text: str, start: int, end: int) -> tuple[str, int, int]:
    """The part of a long source line around [start, end), with "…" where it was cut.

    A recipe written on one line (YAML's flow style) is a line of up to a megabyte, and each
    of thousands of diagnostics printed it whole, underlined: gigabytes of output.
    """
    end = min(end, start + SNIPPET_MARKED)
    left, right = max(0, start - SNIPPET_CONTEXT), min(len(text), end + SNIPPET_CONTEXT)
    if left == 0 and right == len(text):
        return text, start, end
    prefix = "…" if left else ""
    suffix = "…" if right < len(text) else ""
    shift = left - len(prefix)
    return prefix + text[left:right] + suffix, start - shift, end - shift


def _shown(text: str) -> str:
    """A snippet's text on one line, with the characters no one can see written out."""
    return "".join(f"\\u{ord(c):04x}" if c in INVISIBLE else c for c in one_line(text))


class BackdropError(Exception):
    """Base of every expected error. The CLI turns these into a message and an exit code."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> Sequence[Diagnostic]:
        return [Diagnostic(self.message, hint=self.hint)]


class RecipeError(BackdropError):
    """A file has one or more problems: the first MAX_SHOWN in source order, then one line that
    counts the rest.

    `unexamined`: problems known to be there (entries a quick check refused) that were not
    worded, so that a file with 100,000 mistakes costs the time of 50.
    """

    def __init__(self, diagnostics: Iterable[Diagnostic], *, unexamined: int = 0) -> None:
        diags: list[Diagnostic] = []
        for diagnostic in diagnostics:
            if diagnostic.hidden:  # another error's count, carried over
                unexamined += diagnostic.hidden
            else:
                diags.append(diagnostic)
        diags.sort(key=lambda d: (d.span.file, d.span.line, d.span.col) if d.span else ("", 0, 0))
        hidden = max(len(diags) - MAX_SHOWN, 0) + unexamined
        if hidden:
            diags = [*diags[:MAX_SHOWN], _not_shown(diags, hidden)]
        summary = diags[0].headline() if diags else "invalid recipe"
        super().__init__(summary)
        self._diagnostics = diags

    def diagnostics(self) -> Sequence[Diagnostic]:
        return self._diagnostics


def _not_shown(shown: Sequence[Diagnostic], hidden: int) -> Diagnostic:
    files = {d.span.file if d.span else d.file for d in shown[:MAX_SHOWN]} - {None}
    return Diagnostic(
        f"{hidden:,} more {'error' if hidden == 1 else 'errors'} not shown",
        hint=f"fix the first {min(len(shown), MAX_SHOWN)}, then run the command again",
        file=files.pop() if len(files) == 1 else None,
        hidden=hidden,
    )


class UsageError(BackdropError):
    """A bad command-line argument or combination."""


class ApiError(BackdropError):
    """The 1min.ai API (or the network in front of it) answered in a way we cannot continue from."""

    exit_code = EXIT_ABORTED


class StateError(BackdropError):
    """The output folder's state cannot be used (locked by another run, unreadable, ...)."""

    exit_code = EXIT_ABORTED


class NoRunError(StateError):
    """A command that reads a run's results was pointed at a folder no run has written to."""

    exit_code = EXIT_USAGE  # a wrong folder given, not a run that stopped


MAX_SUGGESTION_CHOICES = 500
MAX_SUGGESTED_LENGTH = 200  # characters of a word or a choice that a did-you-mean compares


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest choice to a misspelled word, or None when nothing is close.

    Among more than MAX_SUGGESTION_CHOICES choices (60,000 `vars`, a CSV column of 10,000
    values), only that many of those closest in length are compared: difflib over every one
    took a second a word. Words and choices over MAX_SUGGESTED_LENGTH are not compared.
    """
    word = str(word)
    if len(word) > MAX_SUGGESTED_LENGTH:
        return None  # a 100,000-character value is no typo, and difflib would take seconds
    names = [str(choice) for choice in choices]
    names = [name for name in names if len(name) <= MAX_SUGGESTED_LENGTH]
    if len(names) > MAX_SUGGESTION_CHOICES:
        names = _closest_in_length(word, names)
    matches = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _closest_in_length(word: str, names: list[str]) -> list[str]:
    """MAX_SUGGESTION_CHOICES of `names`, those closest in length to `word` first."""
    by_length: dict[int, list[str]] = {}
    for name in names:
        by_length.setdefault(len(name), []).append(name)
    kept: list[str] = []
    for length in sorted(by_length, key=lambda length: abs(length - len(word))):
        kept.extend(by_length[length][: MAX_SUGGESTION_CHOICES - len(kept)])
        if len(kept) >= MAX_SUGGESTION_CHOICES:
            break
    return kept


def suggestion_suffix(word: str, choices: Iterable[str]) -> str:
    match = did_you_mean(word, choices)
    return f" (did you mean '{match}'?)" if match else ""


def display_path(path: Path) -> str:
    """How a path is shown to the user: relative to the working folder when inside it."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)
