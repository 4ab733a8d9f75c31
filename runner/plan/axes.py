"""Load each matrix axis into its list of values: inline, {csv: ...}, {yaml: ...} or {glob: ...}."""

from __future__ import annotations

import glob as globlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.apikey import KEY_HINT, find_key_in_text
from runner.diagnostics import Diagnostic, RecipeError
from runner.plan.csvfile import read_csv_table
from runner.plan.secrets import contains_key, key_in_values
from runner.recipe.model import Axis, NodePath, Recipe, format_path

_TOO_LARGE_HINT = "split it into smaller files, or remove the rows and columns you do not use"


@dataclass(frozen=True)
class AxisValues:
    """An axis with its values loaded, in file (or declaration) order."""

    name: str
    values: tuple[Any, ...]
    node: NodePath  # where the axis is declared in the recipe


def display_path(recipe: Recipe, relative: str) -> str:
    """A file named in the recipe, as the user should see it (beside the recipe's own name)."""
    base = os.path.dirname(recipe.source.file)
    return os.path.normpath(os.path.join(base, relative)) if base else os.path.normpath(relative)


def load_axes(recipe: Recipe) -> tuple[tuple[AxisValues, ...], list[Diagnostic]]:
    """Every axis that loaded, plus a diagnostic for each one that did not."""
    loaded: list[AxisValues] = []
    problems: list[Diagnostic] = []
    for axis in recipe.axes:
        values, axis_problems = _load_axis(recipe, axis)
        problems.extend(axis_problems)
        if axis_problems:
            continue
        if not values:
            problems.append(_empty_axis(recipe, axis))
            continue
        loaded.append(AxisValues(axis.name, tuple(values), axis.node))
    return tuple(loaded), problems


def _load_axis(recipe: Recipe, axis: Axis) -> tuple[Sequence[Any], list[Diagnostic]]:
    source = axis.source
    if source.kind == "inline":
        return source.values, []
    assert source.path is not None
    if source.kind == "csv":
        return _load_csv(recipe, axis, source.path)
    if source.kind == "yaml":
        return _load_yaml(recipe, axis, source.path)
    return _load_glob(recipe, axis, source.path)


def _recipe_problem(recipe: Recipe, node: NodePath, message: str, hint: str | None) -> Diagnostic:
    return Diagnostic(message, path=format_path(node), span=recipe.source.span(node), hint=hint)


def _read_bytes(
    recipe: Recipe, axis: Axis, relative: str
) -> tuple[bytes | None, Diagnostic | None]:
    from runner.recipe.files import FileProblem, read_bounded
    from runner.recipe.loader import MAX_DATA_BYTES

    node = (*axis.node, axis.source.kind)
    shown = display_path(recipe, relative)
    try:
        return read_bounded(recipe.base_dir / relative, MAX_DATA_BYTES, _TOO_LARGE_HINT), None
    except FileProblem as problem:
        hint = problem.hint
        if problem.kind == "missing":
            hint = "the path is relative to the recipe file; check the spelling and the folder"
        return None, _recipe_problem(recipe, node, f"the file {shown} {problem.message}", hint)


def _load_csv(recipe: Recipe, axis: Axis, relative: str) -> tuple[Sequence[Any], list[Diagnostic]]:
    data, problem = _read_bytes(recipe, axis, relative)
    if data is None:
        return (), [problem] if problem else []
    shown = display_path(recipe, relative)
    table, problems = read_csv_table(data, shown)
    secret = find_key_in_text(table.text or data.decode("latin-1"), shown) or key_in_values(
        table.rows, shown
    )
    if secret is not None:
        return (), [secret]  # alone: other messages might quote the key's line
    return table.rows, problems


def _load_yaml(recipe: Recipe, axis: Axis, relative: str) -> tuple[Sequence[Any], list[Diagnostic]]:
    from runner.recipe.loader import decode_yaml, load_yaml

    data, problem = _read_bytes(recipe, axis, relative)
    if data is None:
        return (), [problem] if problem else []
    shown = display_path(recipe, relative)
    # Before parsing: a syntax error's message would quote the line holding the key.
    secret = find_key_in_text(data.decode("utf-8", "replace"), shown)
    if secret is not None:
        return (), [secret]
    try:
        document = load_yaml(decode_yaml(data, shown), shown)
    except RecipeError as exc:
        return (), list(exc.diagnostics())
    values = document.data
    secret = key_in_values(values, shown)  # written with escapes such as \x41
    if secret is not None:
        return (), [secret]
    if not isinstance(values, list):
        kind = "nothing" if values is None else "one value"
        kind = "a mapping" if isinstance(values, dict) else kind
        span = document.source.span(())
        message = f"this file holds {kind}; an axis file must hold a list (one '- ' item per value)"
        return (), [Diagnostic(message, span=span, file=shown)]
    return values, []


def _load_glob(recipe: Recipe, axis: Axis, pattern: str) -> tuple[Sequence[Any], list[Diagnostic]]:
    base = recipe.base_dir
    matches = globlib.glob(pattern, root_dir=base, recursive=True)
    values = []
    for match in sorted(Path(m).as_posix() for m in matches):
        path = Path(match)
        if not (base / path).is_file():
            continue
        values.append({"name": path.name, "stem": path.stem, "path": match})
    if contains_key(values):
        node = (*axis.node, "glob")
        message = "a file name matched by this pattern contains your API key (ONEMIN_API_KEY)"
        return (), [_recipe_problem(recipe, node, message, KEY_HINT)]
    if not values:
        node = (*axis.node, "glob")
        message = f"the pattern {pattern!r} matches no files"
        hint = f"patterns are relative to the recipe's folder ({_folder_name(recipe)})"
        return (), [_recipe_problem(recipe, node, message, hint)]
    return values, []


def _folder_name(recipe: Recipe) -> str:
    return os.path.dirname(recipe.source.file) or "."


def _empty_axis(recipe: Recipe, axis: Axis) -> Diagnostic:
    kind = axis.source.kind
    if kind == "inline":
        message = f"the axis {axis.name!r} has no values"
    else:
        message = f"the axis {axis.name!r} has no values: {axis.source.path} has no rows"
    hint = "give the axis at least one value, or remove it"
    return _recipe_problem(recipe, axis.node, message, hint)
