"""Expand a matrix with GitHub Actions' `strategy.matrix` rules (product, exclude, include).

Extension: a mapping in an include/exclude entry matches partially and recursively, so
`product: {sku: MUG-01}` matches the whole MUG-01 row. A scalar also matches the same number
written as text, because CSV values are always text.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner.diagnostics import Diagnostic, suggestion_suffix
from runner.plan.axes import AxisValues
from runner.recipe.model import NodePath, Recipe, format_path


@dataclass(frozen=True, slots=True)
class Combination:
    """One job's matrix values: axis values in declaration order, then include-added keys."""

    vars: Mapping[str, Any]
    origins: Mapping[str, int]  # key -> index of the include entry that set it
    created_by: int | None = None  # the include entry that is this combination, if any


def value_matches(pattern: Any, value: Any) -> bool:
    """Whether an include/exclude value matches a combination's value (mappings partially)."""
    if isinstance(pattern, Mapping):
        if not isinstance(value, Mapping):
            return False
        return all(key in value and value_matches(sub, value[key]) for key, sub in pattern.items())
    if isinstance(pattern, bool) or isinstance(value, bool):
        return type(pattern) is type(value) and pattern == value
    if isinstance(pattern, str) != isinstance(value, str):
        if isinstance(pattern, int | float) or isinstance(value, int | float):
            return str(pattern) == str(value)
        return False
    return bool(pattern == value)


def matrix_size(axes: Sequence[AxisValues]) -> int:
    """How many combinations the product of the axes has, without building them."""
    return math.prod(len(axis.values) for axis in axes) if axes else 0


def check_exclude(recipe: Recipe, axes: Sequence[AxisValues]) -> list[Diagnostic]:
    """An exclude key must name an axis, and a mapping key must exist in that axis' values."""
    declared = [axis.name for axis in recipe.axes]
    loaded = {axis.name: axis for axis in axes}
    problems = []
    for index, entry in enumerate(recipe.exclude):
        for key, pattern in entry.items():
            node: NodePath = ("matrix", "exclude", index, key)
            if key not in declared:
                names = ", ".join(declared) or "none"
                message = f"{key!r} is not an axis{suggestion_suffix(key, declared)}"
                problems.append(_at(recipe, node, message, f"the axes are: {names}", key=True))
            elif key in loaded and isinstance(pattern, Mapping):
                problems.extend(_check_fields(recipe, node, pattern, loaded[key].values))
            elif key in loaded:
                problem = _check_value(recipe, node, pattern, loaded[key].values, f"axis {key!r}")
                problems.extend([problem] if problem else [])
    return problems


def _check_value(
    recipe: Recipe, node: NodePath, pattern: Any, values: Sequence[Any], what: str
) -> Diagnostic | None:
    """A value no row has would silently exclude nothing (`Winter` vs `winter`): refuse it."""
    if any(value_matches(pattern, value) for value in values):
        return None
    plain = [str(v) for v in values if isinstance(v, str | int | float) and not isinstance(v, bool)]
    shown = _shown(pattern)
    if not plain:
        if any(isinstance(value, Mapping) for value in values):
            hint = f"the values of the {what} are mappings; name a field, e.g. {{ code: {shown} }}"
        else:
            hint = None
        return _at(recipe, node, f"{shown} matches no value of the {what}", hint, key=False)
    distinct = list(dict.fromkeys(plain))
    listed = ", ".join(distinct[:10]) + (", ..." if len(distinct) > 10 else "")
    suffix = suggestion_suffix(str(pattern), distinct)
    message = f"{shown} matches no value of the {what}{suffix}"
    return _at(recipe, node, message, f"the values are: {listed}", key=False)


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _check_fields(
    recipe: Recipe, node: NodePath, pattern: Mapping[str, Any], values: Sequence[Any]
) -> list[Diagnostic]:
    """A misspelt field in an exclude mapping would silently exclude nothing: refuse it."""
    fields: dict[str, list[Any]] = {}
    for value in values:
        if isinstance(value, Mapping):
            for key, sub in value.items():
                fields.setdefault(str(key), []).append(sub)
    if not fields:
        return []
    problems = []
    for key, sub in pattern.items():
        if str(key) not in fields:
            message = f"no value of this axis has a field {key!r}{suggestion_suffix(key, fields)}"
            hint = f"the fields are: {', '.join(fields)}"
            problems.append(_at(recipe, (*node, key), message, hint, key=True))
        elif isinstance(sub, Mapping):
            problems.extend(_check_fields(recipe, (*node, key), sub, fields[str(key)]))
        else:
            what = f"field {key!r}"
            problem = _check_value(recipe, (*node, key), sub, fields[str(key)], what)
            problems.extend([problem] if problem else [])
    return problems


def _at(recipe: Recipe, node: NodePath, message: str, hint: str | None, *, key: bool) -> Diagnostic:
    span = recipe.source.span(node, key=key)
    return Diagnostic(message, path=format_path(node), span=span, hint=hint)


def _matching_indexes(axis: AxisValues, pattern: Any) -> frozenset[int]:
    return frozenset(i for i, value in enumerate(axis.values) if value_matches(pattern, value))


def _compile_entry(
    entry: Mapping[str, Any], position: Mapping[str, int], axes: Sequence[AxisValues]
) -> tuple[list[tuple[int, frozenset[int]]], dict[str, Any]]:
    """Split an entry into (axis position, matching value indexes) tests and its other keys."""
    tests = []
    extras = {}
    for key, pattern in entry.items():
        if key in position:
            where = position[key]
            tests.append((where, _matching_indexes(axes[where], pattern)))
        else:
            extras[key] = pattern
    return tests, extras


def _applies(tests: Sequence[tuple[int, frozenset[int]]], combo: tuple[int, ...]) -> bool:
    return all(combo[where] in allowed for where, allowed in tests)


def expand_matrix(
    axes: Sequence[AxisValues],
    include: Sequence[Mapping[str, Any]],
    exclude: Sequence[Mapping[str, Any]],
) -> list[Combination]:
    """The combinations, original ones in product order, then include entries of their own."""
    names = [axis.name for axis in axes]
    position = {name: i for i, name in enumerate(names)}
    excludes = [_compile_entry(entry, position, axes)[0] for entry in exclude]
    excludes = [tests for tests in excludes if all(allowed for _, allowed in tests)]
    # GitHub: no axes is one job with no matrix values, unless `include` lists the jobs.
    product = _product(axes) if axes else iter([] if include else [()])
    originals = [
        combo for combo in product if not any(_applies(tests, combo) for tests in excludes)
    ]

    # Include-added keys per combination: key -> (value, include index). Dicts are shared
    # between combinations and never mutated, so one entry applied to 100k rows costs little.
    empty: dict[str, tuple[Any, int]] = {}
    added: list[dict[str, tuple[Any, int]]] = [empty] * len(originals)
    own: list[Combination] = []
    for index, entry in enumerate(include):
        tests, extras = _compile_entry(entry, position, axes)
        applied = False
        # Keyed by id(); the value keeps `before` alive so that the id cannot be reused.
        derived: dict[int, tuple[dict[str, tuple[Any, int]], dict[str, tuple[Any, int]]]] = {}
        for row, combo in enumerate(originals):
            if not _applies(tests, combo):
                continue
            applied = True
            if extras:
                before = added[row]
                pair = derived.get(id(before))
                if pair is None:
                    after = {**before, **{key: (value, index) for key, value in extras.items()}}
                    pair = derived[id(before)] = (before, after)
                added[row] = pair[1]
        if not applied:
            own.append(Combination(dict(entry), dict.fromkeys(entry, index), index))

    combinations: list[Combination] = []
    materialised: dict[int, tuple[dict[str, Any], dict[str, int]]] = {}
    values = [axis.values for axis in axes]
    for combo, extra in zip(originals, added, strict=True):
        base = {name: values[i][at] for i, (name, at) in enumerate(zip(names, combo, strict=True))}
        if extra:
            cached = materialised.get(id(extra))
            if cached is None:
                cached = (
                    {key: value for key, (value, _) in extra.items()},
                    {key: origin for key, (_, origin) in extra.items()},
                )
                materialised[id(extra)] = cached
            base.update(cached[0])
            combinations.append(Combination(base, cached[1]))
        else:
            combinations.append(Combination(base, {}))
    combinations.extend(own)
    return combinations


def _product(axes: Sequence[AxisValues]) -> Iterator[tuple[int, ...]]:
    if not axes:
        return iter(())
    return itertools.product(*(range(len(axis.values)) for axis in axes))
