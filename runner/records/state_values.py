"""The state's values, each checked as it is read: what backdrop could not have written is a
damaged state (StateError, exit 3), said with the file and the place, never a crash.

Disks, hands and pull requests damage `.backdrop/state.db`: text where a number belongs, JSON
that is not JSON, a number of 5,000 digits, a path no disk takes. Every read of a stored value
goes through `StateValues`, so each is checked in one place; the hint never has the user
delete the folder that records what was paid for.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from pathlib import Path
from typing import Any, NoReturn

from runner.api.limits import COMPRESSION_RANGE, N_RANGE
from runner.diagnostics import StateError
from runner.jsontext import JsonProblem, parse_json
from runner.recipe.files import stored_path_problem

DAMAGED_HINT = (
    "nothing was changed. Restore that file from a backup if you have one; never delete"
    " .backdrop, it records what was paid for. Without a backup, rename the .backdrop folder"
    " (keep the copy) and run again: the images backdrop.lock records are adopted, not paid"
    " again; only answers paid for and not yet downloaded would be generated again"
)
MAX_TEXT_CHARS = 1_000_000  # a prompt or an error message; nothing stored comes near
_INT64 = 2**63


class StateValues:
    """Checks the values read from one state file; `where` names the place, as
    (table, column, row) and is only put into words when something is wrong."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def damaged(self, where: tuple[str, str, object], what: str) -> NoReturn:
        table, column, row = where
        row_text = "" if row is None else f" of {_short(row)}"
        raise StateError(
            f"the state is damaged: {table}.{column}{row_text} {what} (in {self.path})",
            DAMAGED_HINT,
        )

    def text(self, value: Any, where: tuple[str, str, object]) -> str:
        if not isinstance(value, str):
            self.damaged(where, f"should be text but is {_kind(value)}")
        if len(value) > MAX_TEXT_CHARS:
            self.damaged(where, f"is {len(value):,} characters long")
        return value

    def optional_text(self, value: Any, where: tuple[str, str, object]) -> str | None:
        return None if value is None else self.text(value, where)

    def choice(self, value: Any, choices: Collection[str], where: tuple[str, str, object]) -> str:
        if value not in choices or not isinstance(value, str):
            self.damaged(where, f"should be one of {', '.join(sorted(choices))}")
        return value

    def integer(
        self, value: Any, where: tuple[str, str, object], low: int = 0, high: int = _INT64
    ) -> int:
        if type(value) is not int or not low <= value <= high:
            self.damaged(where, f"should be a whole number from {low:,} to {high:,}")
        return value

    def number(self, value: Any, where: tuple[str, str, object]) -> float:
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            self.damaged(where, "should be a number of 0 or more")
        return float(value)

    def optional_number(self, value: Any, where: tuple[str, str, object]) -> float | None:
        return None if value is None else self.number(value, where)

    def json(self, value: Any, kind: type, where: tuple[str, str, object]) -> Any:
        """A JSON text holding a `kind` (dict or list)."""
        text = self.text(value, where)
        try:
            data = parse_json(text)
        except JsonProblem as problem:
            self.damaged(where, f"is not valid JSON ({problem.message})")
        if not isinstance(data, kind):
            self.damaged(where, f"should hold a JSON {_json_kind(kind)}")
        return data

    def text_list(self, value: Any, where: tuple[str, str, object]) -> list[str]:
        items: list[Any] = self.json(value, list, where)
        if not all(isinstance(item, str) for item in items):
            self.damaged(where, "should be a JSON list of text")
        return [str(item) for item in items]

    def output_path(self, value: Any, where: tuple[str, str, object]) -> str:
        """A path relative to the output folder, as backdrop records the files it writes."""
        text = self.text(value, where)
        problem = stored_path_problem(text)
        if problem is not None:
            self.damaged(where, f"is no path backdrop writes ({problem})")
        return text

    def output_paths(self, value: Any, where: tuple[str, str, object]) -> list[str]:
        return [self.output_path(item, where) for item in self.text_list(value, where)]

    def sha256(self, value: Any, where: tuple[str, str, object]) -> str:
        text = self.text(value, where)
        if len(text) != 64 or text.strip("0123456789abcdef"):
            self.damaged(where, "should be 64 hexadecimal digits")
        return text

    def prompt_object(self, value: Any, where: tuple[str, str, object]) -> dict[str, Any]:
        """A promptObject as a run recorded it: its numbers within the API's limits."""
        po: dict[str, Any] = self.json(value, dict, where)
        for name in ("prompt", "size", "quality", "output_format"):
            if name in po and not isinstance(po[name], str):
                self.damaged(where, f"has a {name} that is not text")
        for name, (low, high) in (("n", N_RANGE), ("output_compression", COMPRESSION_RANGE)):
            number = po.get(name)
            if number is not None and (type(number) is not int or not low <= number <= high):
                self.damaged(where, f"has an {name} outside {low} to {high}")
        return po


def _short(row: object) -> str:
    text = str(row)
    return f"'{text[:16]}…'" if len(text) > 16 else f"'{text}'"


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    return {int: "a number", float: "a number", bytes: "binary data"}.get(type(value), "other")


def _json_kind(kind: type) -> str:
    return "object" if kind is dict else "list"
