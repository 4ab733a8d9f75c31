"""review.yaml in the layout backdrop writes it (render.py), read a line at a time.

A review of 10,000 jobs at n = 10 is 8 MB or more (ten sha256 a job, earlier decisions with
their reasons), and reading YAML with every position kept took seconds and hundreds of MB for
it. A file in the written layout (comments and blank lines aside, as a hand edit of a value
keeps it) is read here into exactly the values the YAML loader would give, with where each
job's lines are; any other layout gives None, and the YAML loader reads the file instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from runner.recipe.loader import (
    BOOL_TAG,
    FLOAT_TAG,
    INT_TAG,
    MAX_NUMBER_DIGITS,
    NULL_TAG,
    resolve_plain,
)

# Characters YAML reads otherwise than as themselves (line breaks NEL, LS and PS, the BOM) or
# refuses (controls, lone surrogates): a text holding any is left to the YAML loader.
_UNUSUAL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN = r"[A-Za-z0-9_.][A-Za-z0-9_.\-/+]*"
_QUOTED = r'"(?:[^"\\\t]|\\["\\nrt]|\\u[0-9a-fA-F]{4}|\\U[0-9a-fA-F]{8})*"'
_SCALAR = rf"(?:{_PLAIN}|{_QUOTED})"
_TOP = re.compile(rf"(version|jobs):(?: ({_SCALAR}|\{{\}}))?")
_KEY = re.compile(rf"  ({_SCALAR}):")
_FIELD = re.compile(rf"    ([a-z0-9_]+):(?: ({_SCALAR}))?")
_ITEM = re.compile(rf"      - (?:({_SCALAR})|([a-z0-9_]+): ({_SCALAR}))")
_ITEM_FIELD = re.compile(rf"        ([a-z0-9_]+): ({_SCALAR})")
# A `sha256` item, hex with a letter other than e: text to YAML (no number or other form has
# one), so most lines of a large review need no more than this match.
_HEX_ITEM = re.compile(r"      - ([0-9a-f]*[a-df][0-9a-f]*)")
_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)")
_ESCAPED = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


# The values most lines hold, read once.
_PLAIN_VALUES: dict[str, Any] = {
    **{status: status for status in ("pending", "approved", "rejected")},
    **{str(number): number for number in range(1, 11)},
}


class _NotWritten(Exception):
    """The text is not in the written layout (the YAML loader reads it)."""


@dataclass
class Written:
    """The document, and the lines of each job's entry (0-based, end excluded)."""

    data: dict[str, Any]
    lines: list[str]
    header: list[int]  # the lines of `version:` and `jobs:`
    entries: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # twice: a repeat
    repeated: set[str] = field(default_factory=set)  # job keys, or fields in a job's entry


def read_written(text: str) -> Written | None:
    """The document in `text` when it is in the layout render.py writes, else None."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")  # as git checks it out on Windows
    if "\r" in text or _UNUSUAL.search(text):
        return None
    lines = text.split("\n")
    try:
        return _Reader(lines).read()
    except _NotWritten:
        return None


# What a line below a job key is (the parse of a line depends on its text alone).
_FIELD_VALUE, _FIELD_LIST, _ITEM_VALUE, _ITEM_MAPPING, _ITEM_NEXT = range(5)
# Distinct lines whose parse is kept for the rest of a read: `status: approved`, `pick: 3`,
# `- take: 1` recur in every entry; a note or a reason is mostly unique.
_KEPT_LINES = 4096


class _Reader:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.data: dict[str, Any] = {}
        self.written = Written(self.data, lines, [])
        self.parsed: dict[str, tuple[int, str, Any]] = {}

    def read(self) -> Written:
        jobs: dict[str, Any] | None = None
        key: str | None = None
        entry: dict[str, Any] = {}
        listing: list[Any] | None = None  # the list the `- ` lines below add to
        earlier: dict[str, Any] | None = None  # the history item the deeper lines add to
        start = 0
        hex_item = _HEX_ITEM.fullmatch
        parsed = self.parsed
        repeated = self.written.repeated
        for number, line in enumerate(self.lines):
            # Most lines of a large review: a `sha256` item. `listing` is set only inside an
            # entry (cleared at each key and top-level line), so the checks below all hold.
            if listing is not None and (hexed := hex_item(line)) is not None:
                listing.append(hexed.group(1))
                earlier = None
                continue
            if not line or line[0] == "#":
                continue
            if line[-1] == " " or len(line) < 3:
                raise _NotWritten
            if line[0] != " ":
                self._close(key, start, number)
                key, listing = None, None
                jobs = self._top(line, number)
                continue
            if jobs is None:
                raise _NotWritten  # an entry before `jobs:`, or under `jobs: {}`
            if line[2] != " ":
                self._close(key, start, number)
                match = _KEY.fullmatch(line)
                if match is None:
                    raise _NotWritten
                key, start = _text(match.group(1)), number
                entry, listing, earlier = {}, None, None
                if key in jobs:
                    repeated.add(key)
                else:
                    jobs[key] = entry
                continue
            if key is None:
                raise _NotWritten
            known = parsed.get(line)
            if known is None:
                known = _parse(line)
                if len(parsed) < _KEPT_LINES:
                    parsed[line] = known
            kind, name, value = known
            if kind <= _FIELD_LIST:  # `name: value`, or `name:` and its list below
                listing = earlier = None
                if kind == _FIELD_LIST:
                    value = listing = []
                if name in entry:
                    repeated.add(key)  # the YAML loader says which, where
                else:
                    entry[name] = value
            elif kind == _ITEM_NEXT:
                if earlier is None:
                    raise _NotWritten
                if name in earlier:
                    repeated.add(key)
                else:
                    earlier[name] = value
            elif listing is None:
                raise _NotWritten
            elif kind == _ITEM_VALUE:
                listing.append(value)
                earlier = None
            else:
                earlier = {name: value}
                listing.append(earlier)
        self._close(key, start, len(self.lines))
        if "version" not in self.data:
            raise _NotWritten
        return self.written

    def _top(self, line: str, number: int) -> dict[str, Any] | None:
        match = _TOP.fullmatch(line)
        if match is None or match.group(1) in self.data:
            raise _NotWritten
        name, value = match.group(1), match.group(2)
        self.written.header.append(number)
        if name == "version":
            if value in (None, "{}"):
                raise _NotWritten  # `version: {}` is an empty mapping to YAML, not text
            self.data["version"] = _value(value)
            return None
        if value not in (None, "{}"):
            raise _NotWritten
        jobs: dict[str, Any] = {}
        self.data["jobs"] = jobs
        return jobs if value is None else None

    def _close(self, key: str | None, start: int, end: int) -> None:
        if key is None:
            return
        while end > start + 1 and not self.lines[end - 1].strip(" "):
            end -= 1
        entry = self.data["jobs"].get(key)
        if entry == {}:
            raise _NotWritten  # a key with no fields: YAML reads null, not an empty mapping
        if entry and [] in entry.values():
            raise _NotWritten  # `sha256:` with no items: YAML reads null, not a list
        self.written.entries.setdefault(key, []).append((start, end))


def _parse(line: str) -> tuple[int, str, Any]:
    """A line below a job key (it starts with three spaces): what it is, its field's name and
    value (a scalar: the same for every line of this text)."""
    if line.startswith("        "):  # a history item's next field
        match = _ITEM_FIELD.fullmatch(line)
        if match is None:
            raise _NotWritten
        return _ITEM_NEXT, match.group(1), _value(match.group(2))
    if line.startswith("      "):
        match = _ITEM.fullmatch(line)
        if match is None:
            raise _NotWritten
        if match.group(1) is not None:
            return _ITEM_VALUE, "", _value(match.group(1))
        return _ITEM_MAPPING, match.group(2), _value(match.group(3))
    match = _FIELD.fullmatch(line)
    if match is None:
        raise _NotWritten
    if match.group(2) is None:
        return _FIELD_LIST, match.group(1), None
    return _FIELD_VALUE, match.group(1), _value(match.group(2))


def _value(text: str) -> Any:
    """A scalar as the YAML loader reads it."""
    if text.startswith('"'):
        return _text(text)
    known = _PLAIN_VALUES.get(text)
    if known is not None:
        return known
    tag = resolve_plain(text)
    if tag == INT_TAG:
        if len(text) > MAX_NUMBER_DIGITS:
            raise _NotWritten  # the YAML loader says so, at its place
        return int(text)
    if tag == FLOAT_TAG:
        number = float(text)
        if number != number or number in (float("inf"), float("-inf")):
            raise _NotWritten
        return number
    if tag == BOOL_TAG:
        return text.lower() == "true"
    if tag == NULL_TAG:
        return None
    return text


def _text(text: str) -> str:
    """A key or text value: plain as it is, or double-quoted with its escapes read."""
    if not text.startswith('"'):
        return text
    value = _ESCAPE.sub(_unescape, text[1:-1])
    if _SURROGATE.search(value):
        raise _NotWritten  # from a \ud800 escape: the YAML loader says what is wrong
    return value


def _unescape(match: re.Match[str]) -> str:
    escape = match.group()
    if escape[1] in "uU":
        return chr(int(escape[2:], 16))
    return _ESCAPED[escape[1]]
