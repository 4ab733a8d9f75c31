"""JSON read fast, and when something is wrong, said at its line and column.

For files a pull request can commit (backdrop.lock): `json.loads` is the fast path, with two
guards it lacks (numbers of thousands of digits, nesting thousands deep: Python raises
ValueError and RecursionError for those, without a position). Positions are looked for only
when there is something to say. The walker below goes through the text with the json module's
own C scanner, descending by hand only into the lists and mappings on the way to what it looks
for, so that the rest of a 50 MB file is skipped at C speed.
"""

from __future__ import annotations

import bisect
import contextlib
import json
from collections.abc import Callable, Collection
from typing import Any

from runner.diagnostics import SNIPPET_WIDTH, Span

# A path inside a JSON document: keys and list indexes from the root (as recipe.model.NodePath,
# which this module, below the recipe stage, does not import).
NodePath = tuple[str | int, ...]

MAX_DEPTH = 64  # nesting levels; backdrop's own JSON files use four
MAX_DIGITS = 1000  # in a number; Python refuses to read integers past 4,300

_WHITESPACE = " \t\n\r"


class JsonProblem(Exception):
    """The text is not JSON this reader takes; `offset` is where, in characters."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message


class _LongNumber(Exception):
    def __init__(self, digits: int) -> None:
        super().__init__(digits)
        self.digits = digits


class _NotANumber(Exception):
    """NaN and Infinity: JSON has no such values (Python's reader takes them)."""


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_DIGITS:
        raise _LongNumber(digits)
    return int(text)


def _parse_constant(text: str) -> Any:
    raise _NotANumber(text)


_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_constant=_parse_constant)
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def parse_json(text: str) -> Any:
    """The value in `text`; JsonProblem (with a position) when it is not JSON this reads."""
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise JsonProblem(exc.pos, _reworded(exc.msg)) from None
    except (RecursionError, _LongNumber, _NotANumber):
        pass
    _Walker(text, None).document()  # finds where, and raises it
    raise JsonProblem(0, "the file cannot be read as JSON")  # pragma: no cover - found above


def value_offsets(text: str, paths: Collection[NodePath]) -> dict[NodePath, int]:
    """Where the values at `paths` start in `text` (which parse_json read without a problem);
    a path that is not in the document gets the start of its nearest ancestor that is."""
    walker = _Walker(text, paths)
    with contextlib.suppress(_AllFound):  # the rest of the text holds none of them
        walker.document()
    found: dict[NodePath, int] = {}
    for path in paths:
        probe = tuple(path)
        while probe not in walker.starts and probe:
            probe = probe[:-1]
        found[path] = walker.starts.get(probe, 0)
    return found


class TextPositions:
    """Offsets in one text as 1-based lines and columns, the line starts found once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        at = text.find("\n")
        while at >= 0:
            self.starts.append(at + 1)
            at = text.find("\n", at + 1)

    def span(self, file: str, offset: int) -> Span:
        """A one-character span at `offset`, its line cut to a window around it."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        col = offset - start
        # A lock may be one line of 50 MB: show the part around the place only.
        left = max(0, col - SNIPPET_WIDTH // 2)
        excerpt = self.text[start + left : min(end, start + left + SNIPPET_WIDTH)]
        return Span(file, line + 1, col + 1, col + 2, excerpt.rstrip("\r"), cut=left)


# The json module's words, as a person fixing the file by hand needs them.
_PLAIN = {
    "Expecting value": "a value is missing here",
    "Expecting ',' delimiter": "a ',' is missing here",
    "Expecting ':' delimiter": "a ':' is missing here",
    "Expecting property name enclosed in double quotes": "a name in double quotes is missing here",
    "Unterminated string starting at": "this text has no closing '\"'",
    "Invalid control character at": "a text holds a control character (a line break or a tab)",
    "Invalid \\escape": "a text holds an invalid escape (\\)",
    "Invalid \\uXXXX escape": "a text holds an invalid \\u escape",
    "Extra data": "more follows the end of the JSON document",
}


def _reworded(message: str) -> str:
    return f"this is not valid JSON: {_PLAIN.get(message, message)}"


class _AllFound(Exception):
    """Every wanted value's start is known: the walk stops there."""


class _Walker:
    """Goes through a JSON text by hand where it must, with the C scanner everywhere else.

    wanted None: find the first problem (json.loads stopped on one it gives no position for),
    descending only into the values the scanner cannot read. Else record where the wanted
    values (and their ancestors) start, descending only on the way to them.
    """

    def __init__(self, text: str, wanted: Collection[NodePath] | None) -> None:
        self.text = text
        self.on_the_way: set[NodePath] | None = None
        self.missing: set[NodePath] = set()
        if wanted is not None:
            self.on_the_way = {tuple(path[:size]) for path in wanted for size in range(len(path))}
            self.missing = {tuple(path) for path in wanted}
        self.starts: dict[NodePath, int] = {}

    def document(self) -> None:
        end = self._skip(self.value(self._skip(0), (), 0))
        if end < len(self.text):
            raise JsonProblem(end, _reworded("Extra data"))

    def value(self, at: int, path: NodePath, depth: int) -> int:
        """Read the value starting at `at`; returns where it ends."""
        if self.on_the_way is not None:  # where wanted values start: only theirs are kept
            # (a list of millions of entries on the way to the first few would otherwise fill
            # the memory with the starts of all of them), and the walk ends at the last one.
            if path in self.on_the_way or path in self.missing:
                self.starts[path] = at
                self.missing.discard(path)
            elif not self.missing:
                raise _AllFound
        opener = self.text[at : at + 1]
        if opener in ("{", "["):
            if self.on_the_way is not None and path not in self.on_the_way:
                return self._scan(at)[1]
            if self.on_the_way is None:
                try:
                    return self._scan(at)[1]
                except JsonProblem:
                    pass  # inside it: look by hand
            if depth >= MAX_DEPTH:
                raise JsonProblem(at, f"the file is nested more than {MAX_DEPTH} levels deep")
            walk = self._mapping if opener == "{" else self._list
            end = walk(at, path, depth)
            if self.missing:  # what is wanted inside and was not found is not there
                size = len(path)
                self.missing = {want for want in self.missing if want[:size] != path}
            return end
        return self._scan(at)[1]

    def _scan(self, at: int) -> tuple[Any, int]:
        try:
            value, end = _SCAN(self.text, at)
        except StopIteration:
            raise JsonProblem(at, _reworded("Expecting value")) from None
        except json.JSONDecodeError as exc:
            raise JsonProblem(exc.pos, _reworded(exc.msg)) from None
        except RecursionError:
            raise JsonProblem(at, f"the file is nested more than {MAX_DEPTH} levels deep") from None
        except _LongNumber as long:
            raise JsonProblem(
                at, f"this number has {long.digits:,} digits, more than the {MAX_DIGITS:,} allowed"
            ) from None
        except _NotANumber as constant:
            raise JsonProblem(at, f"{constant.args[0]} is not a number JSON allows") from None
        return value, end

    def _mapping(self, at: int, path: NodePath, depth: int) -> int:
        at = self._skip(at + 1)
        if self.text[at : at + 1] == "}":
            return at + 1
        while True:
            if self.text[at : at + 1] != '"':
                raise JsonProblem(
                    at, _reworded("Expecting property name enclosed in double quotes")
                )
            key, at = self._scan(at)
            at = self._skip(at)
            if self.text[at : at + 1] != ":":
                raise JsonProblem(at, _reworded("Expecting ':' delimiter"))
            at = self._skip(self.value(self._skip(at + 1), (*path, key), depth + 1))
            closer = self.text[at : at + 1]
            if closer == "}":
                return at + 1
            if closer != ",":
                raise JsonProblem(at, _reworded("Expecting ',' delimiter"))
            at = self._skip(at + 1)

    def _list(self, at: int, path: NodePath, depth: int) -> int:
        at = self._skip(at + 1)
        if self.text[at : at + 1] == "]":
            return at + 1
        index = 0
        while True:
            at = self._skip(self.value(at, (*path, index), depth + 1))
            closer = self.text[at : at + 1]
            if closer == "]":
                return at + 1
            if closer != ",":
                raise JsonProblem(at, _reworded("Expecting ',' delimiter"))
            at = self._skip(at + 1)
            index += 1

    def _skip(self, at: int) -> int:
        text = self.text
        while at < len(text) and text[at] in _WHITESPACE:
            at += 1
        return at
