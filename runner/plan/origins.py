"""Which value a job's rendered text came from, and where that value was written.

A missing image is named by a value (a product mapping in the recipe, a CSV or workbook cell),
not by the `image:` template that reads it: a message points at the value. Only worked out when
a problem needs it, so a plan without problems pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from runner.diagnostics import Span
from runner.pastedtext import odd_space_in, wrapped_in_quotes
from runner.plan.axes import AxisValues
from runner.plan.axis_source import Locate
from runner.plan.matrix import Combination
from runner.recipe.model import NodePath, Recipe

MIN_PART = 3  # a shorter value inside a path ("de", "1") says too little to point at
_PATH_MARKS = ("/", "\\", ".")  # a value with one names a file or folder, not just a word
Place = Callable[[], Span | None]  # where a candidate value was written, worked out on demand


class ValueOrigins:
    """Finds, for a job's combination, the value that wrote some text."""

    def __init__(self, recipe: Recipe, axes: Sequence[AxisValues]) -> None:
        self.recipe = recipe
        self.axes = {axis.name: axis for axis in axes}
        self._indexes: dict[str, tuple[dict[int, int], dict[Any, int]]] = {}

    def find(self, combo: Combination, text: str) -> Span | None:
        """Where the value equal to `text` was written; else the longest value inside it that
        names a file or folder (`lamp.png`, `images/spring`; not a word such as `spring`)."""
        best: tuple[int, Span] | None = None
        for value, locate in self._candidates(combo):
            if value == text:
                return locate()
            longer = best is None or len(value) > best[0]
            path_like = len(value) >= MIN_PART and any(mark in value for mark in _PATH_MARKS)
            if path_like and longer and value in text:
                span = locate()
                if span is not None:
                    best = (len(value), span)
        return best[1] if best else None

    def find_wrapped(self, combo: Combination, text: str) -> tuple[str, Span] | None:
        """A value wrapped in typographic quotes (“de-DE”) that went into `text`, and where it
        was written: the mark of a word processor's or spreadsheet's autocorrect."""
        return self._find(combo, text, wrapped_in_quotes)

    def find_odd_space(self, combo: Combination, text: str) -> tuple[str, Span] | None:
        """A value holding a space that only looks like one (U+00A0 from Word or Excel) that
        went into `text`, and where it was written."""
        return self._find(combo, text, lambda value: odd_space_in(value) is not None)

    def _find(
        self, combo: Combination, text: str, marked: Callable[[str], bool]
    ) -> tuple[str, Span] | None:
        for value, locate in self._candidates(combo):
            span = locate() if marked(value) and value in text else None
            if span is not None:
                return value, span
        return None

    def _candidates(self, combo: Combination) -> Iterator[tuple[str, Place]]:
        """(text, a function giving its place) for every text value the job sees."""
        for name, value in combo.vars.items():
            origin = combo.origins.get(name)
            if origin is not None:
                node: NodePath = ("matrix", "include", origin, name)
                yield from self._in_recipe(value, node)
                continue
            axis = self.axes.get(name)
            if axis is None or axis.locate is None:
                continue
            index = self._index(axis, value)
            if index is None:
                continue
            locate = axis.locate
            if isinstance(value, Mapping):
                for field, text in value.items():
                    if isinstance(text, str):
                        yield text.strip(), _bind(locate, index, str(field))
            elif isinstance(value, str):
                yield value.strip(), _bind(locate, index, None)
        yield from self._in_recipe(self.recipe.vars, ("vars",))

    def _in_recipe(self, value: Any, node: NodePath) -> Iterator[tuple[str, Place]]:
        source = self.recipe.source
        if isinstance(value, str):
            yield value.strip(), lambda: source.span(node)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                yield from self._in_recipe(item, (*node, key))

    def _index(self, axis: AxisValues, value: Any) -> int | None:
        """The position of `value` in its axis: mappings by identity (rows are shared objects),
        plain values by equality (the first one)."""
        tables = self._indexes.get(axis.name)
        if tables is None:
            by_id: dict[int, int] = {}
            by_value: dict[Any, int] = {}
            for position, item in enumerate(axis.values):
                by_id.setdefault(id(item), position)
                if isinstance(item, str | int | float | bool):
                    by_value.setdefault(item, position)
            tables = self._indexes[axis.name] = (by_id, by_value)
        by_id, by_value = tables
        found = by_id.get(id(value))
        if found is None and isinstance(value, str | int | float | bool):
            found = by_value.get(value)
        return found


def _bind(locate: Locate, index: int, field: str | None) -> Place:
    return lambda: locate(index, field)
