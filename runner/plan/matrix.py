"""Expand a matrix with GitHub Actions' `strategy.matrix` rules (product, exclude, include).

Extension: a mapping in an include/exclude entry matches partially and recursively, so
`product: {sku: MUG-01}` matches the whole MUG-01 row. A scalar also matches the same number
written as text, because CSV values are always text.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner.diagnostics import Diagnostic, suggestion_suffix
from runner.plan.axes import AxisValues
from runner.plan.matching import AxisIndex, Column, ProductSpace, bits, value_matches
from runner.recipe.model import NodePath, Recipe, format_path

__all__ = [
    "Combination",
    "TooManyAddedValues",
    "check_exclude",
    "expand_matrix",
    "matrix_size",
    "value_matches",
]


# Values include entries may add to combinations in all (an entry with no axis key adds its
# keys to every combination): a handful of promptObject fields a job at 100,000 jobs, while
# 3,000 entries of their own key each over 10,000 combinations were 30 million.
MAX_ADDED_VALUES = 2_000_000


class TooManyAddedValues(Exception):
    """The include entries would add more than MAX_ADDED_VALUES values to the combinations."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count:,} values")
        self.count = count


@dataclass(frozen=True, slots=True)
class Combination:
    """One job's matrix values: axis values in declaration order, then include-added keys."""

    vars: Mapping[str, Any]
    origins: Mapping[str, int]  # key -> index of the include entry that set it
    created_by: int | None = None  # the include entry that is this combination, if any


def matrix_size(axes: Sequence[AxisValues]) -> int:
    """How many combinations the product of the axes has, without building them."""
    return math.prod(len(axis.values) for axis in axes) if axes else 0


MAX_EXCLUDE_PROBLEMS = 20  # exclude entries reported one by one; the rest are counted


def check_exclude(recipe: Recipe, axes: Sequence[AxisValues]) -> list[Diagnostic]:
    """An exclude key must name an axis, and a mapping key must exist in that axis' values.

    The first MAX_EXCLUDE_PROBLEMS entries with a problem are explained (with a did-you-mean);
    any more are only counted: thousands of misspelt entries must not cost a second each.
    """
    declared = [axis.name for axis in recipe.axes]
    loaded = {axis.name: number for number, axis in enumerate(axes)}
    index = AxisIndex([axis.values for axis in axes])
    problems: list[Diagnostic] = []
    wrong: list[int] = []  # entries with a problem
    for number, entry in enumerate(recipe.exclude):
        explain = len(wrong) < MAX_EXCLUDE_PROBLEMS
        found: list[Diagnostic] = []
        for key, pattern in entry.items():
            node: NodePath = ("matrix", "exclude", number, key)
            if key not in declared:
                names = ", ".join(declared) or "none"
                message = f"{key!r} is not an axis{suggestion_suffix(key, declared)}"
                found.append(_at(recipe, node, message, f"the axes are: {names}", key=True))
            elif key in loaded and isinstance(pattern, Mapping):
                column = index.column(loaded[key])
                found.extend(_check_fields(recipe, node, pattern, column, explain=explain))
            elif key in loaded:
                column = index.column(loaded[key])
                what = f"axis {key!r}"
                problem = _check_value(recipe, node, pattern, column, what, explain=explain)
                found.extend([problem] if problem else [])
        if found:
            wrong.append(number)
            if explain:
                problems.extend(found)
    if len(wrong) > MAX_EXCLUDE_PROBLEMS:
        more = len(wrong) - MAX_EXCLUDE_PROBLEMS
        node = ("matrix", "exclude", wrong[MAX_EXCLUDE_PROBLEMS])
        message = (
            f"this exclude entry and {more - 1:,} more after it have problems like those above "
            f"(only the first {MAX_EXCLUDE_PROBLEMS} are explained)"
        )
        problems.append(_at(recipe, node, message, None, key=False))
    return problems


def _check_value(
    recipe: Recipe,
    node: NodePath,
    pattern: Any,
    column: Column,
    what: str,
    *,
    explain: bool = True,
) -> Diagnostic | None:
    """A value no row has would silently exclude nothing (`Winter` vs `winter`): refuse it."""
    if column.matching(pattern):
        return None
    shown = _shown(pattern)
    distinct = column.texts()
    if not distinct or not explain:
        if explain and column.has_mappings():
            hint = f"the values of the {what} are mappings; name a field, e.g. {{ code: {shown} }}"
        else:
            hint = None
        return _at(recipe, node, f"{shown} matches no value of the {what}", hint, key=False)
    listed = ", ".join(distinct[:10]) + (", ..." if len(distinct) > 10 else "")
    suffix = suggestion_suffix(str(pattern), distinct)
    message = f"{shown} matches no value of the {what}{suffix}"
    return _at(recipe, node, message, f"the values are: {listed}", key=False)


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _check_fields(
    recipe: Recipe,
    node: NodePath,
    pattern: Mapping[str, Any],
    column: Column,
    *,
    explain: bool = True,
) -> list[Diagnostic]:
    """A misspelt field in an exclude mapping would silently exclude nothing: refuse it."""
    fields = column.fields()
    if not fields:
        return []
    problems = []
    for key, sub in pattern.items():
        if str(key) not in fields:
            suffix = suggestion_suffix(key, fields) if explain else ""
            message = f"no value of this axis has a field {key!r}{suffix}"
            hint = f"the fields are: {', '.join(fields)}"
            problems.append(_at(recipe, (*node, key), message, hint, key=True))
        elif isinstance(sub, Mapping):
            field = fields[str(key)]
            problems.extend(_check_fields(recipe, (*node, key), sub, field, explain=explain))
        else:
            what = f"field {key!r}"
            field = fields[str(key)]
            problem = _check_value(recipe, (*node, key), sub, field, what, explain=explain)
            problems.extend([problem] if problem else [])
    return problems


def _at(recipe: Recipe, node: NodePath, message: str, hint: str | None, *, key: bool) -> Diagnostic:
    span = recipe.source.span(node, key=key)
    return Diagnostic(message, path=format_path(node), span=span, hint=hint)


def expand_matrix(
    axes: Sequence[AxisValues],
    include: Sequence[Mapping[str, Any]],
    exclude: Sequence[Mapping[str, Any]],
) -> list[Combination]:
    """The combinations, original ones in product order, then include entries of their own.

    Each entry's matches are a mask over the product (runner/plan/matching.py), so thousands
    of entries over 10,000 combinations cost thousands of integer operations, not tens of
    millions of comparisons.
    """
    names = [axis.name for axis in axes]
    position = {name: number for number, name in enumerate(names)}
    values = [axis.values for axis in axes]
    index = AxisIndex(values)
    space = ProductSpace([len(axis) for axis in values])  # no axes: one empty combination
    alive = space.full
    for entry in exclude:
        tests = index.tests(entry, position)
        if tests is not None:
            alive &= ~space.where(tests)
    if not axes and include:
        alive = 0  # GitHub: no axes is one job with no matrix values, unless include lists the jobs

    applies: list[int] = []  # per include entry: the original combinations it adds its keys to
    own: list[Combination] = []
    for number, entry in enumerate(include):
        tests = index.tests(entry, position)
        mask = space.where(tests) & alive if tests is not None else 0
        applies.append(mask)
        if not mask:
            own.append(Combination(dict(entry), dict.fromkeys(entry, number), number))
    added = _added_keys(include, applies, position)

    # Combinations with the same added keys from the same entries share their dicts.
    shared: dict[tuple[tuple[str, int], ...], tuple[dict[str, Any], dict[str, int]]] = {}
    no_origins: dict[str, int] = {}
    combinations: list[Combination] = []
    flags = bin(alive)[:1:-1] if alive else ""
    for number, (combo, flag) in enumerate(zip(itertools.product(*values), flags, strict=False)):
        if flag != "1":
            continue
        base = dict(zip(names, combo, strict=True))
        signature = added.get(number)
        if signature is None:
            combinations.append(Combination(base, no_origins))
            continue
        found = shared.get(signature)
        if found is None:
            found = shared[signature] = (
                {key: include[entry][key] for key, entry in signature},
                dict(signature),
            )
        base.update(found[0])
        combinations.append(Combination(base, found[1]))
    combinations.extend(own)
    return combinations


def _added_keys(
    include: Sequence[Mapping[str, Any]], applies: Sequence[int], position: Mapping[str, int]
) -> dict[int, tuple[tuple[str, int], ...]]:
    """For each original combination (by its place in the product) that include entries add
    keys to: (key, entry that set it last), in the order the keys were first added.

    GitHub applies the entries in order, a later one overwriting what an earlier one added;
    so a key's value comes from the last entry that sets it and applies, and its place in the
    combination from the first. Both are found per key with masks, each combination visited
    once per key it gets.
    """
    setters: dict[str, list[int]] = {}
    for number, entry in enumerate(include):
        if applies[number]:
            for key in entry:
                if key not in position:
                    setters.setdefault(key, []).append(number)
    values = 0
    for numbers in setters.values():
        gets = 0
        for number in numbers:
            gets |= applies[number]
        values += gets.bit_count()
    if values > MAX_ADDED_VALUES:
        raise TooManyAddedValues(values)
    first: dict[int, dict[str, int]] = {}
    last: dict[int, dict[str, int]] = {}
    for key, numbers in setters.items():
        for order, table in ((numbers, first), (reversed(numbers), last)):
            left = -1  # every combination still without this key
            for number in order:
                hit = applies[number] & left
                if hit:
                    for combination in bits(hit):
                        table.setdefault(combination, {})[key] = number
                    left &= ~applies[number]
    places = {
        number: {key: at for at, key in enumerate(include[number])}
        for number in {number for numbers in setters.values() for number in numbers}
    }
    added: dict[int, tuple[tuple[str, int], ...]] = {}
    for combination, firsts in first.items():
        lasts = last[combination]
        if len(firsts) == 1:  # the commonest: one key added (no order to find)
            [key] = firsts
            added[combination] = ((key, lasts[key]),)
            continue
        keys = sorted(firsts, key=lambda key: (firsts[key], places[firsts[key]][key]))
        added[combination] = tuple((key, lasts[key]) for key in keys)
    return added
