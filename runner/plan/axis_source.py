"""What every axis source shares: the result it returns, where its values were written, and how a
file named in the recipe is read (confined to the project, bounded) and shown to the user.

Apart from axes.py's registry, so that the sources in their own modules (globaxis.py,
workbook.py) build on it without importing the registry that imports them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.diagnostics import Diagnostic, Span
from runner.recipe.files import FileProblem, printable
from runner.recipe.model import Axis, NodePath, Recipe, format_path

TOO_LARGE_HINT = "split it into smaller files, or remove the rows and columns you do not use"

# Where value `index` of an axis (or its field `name`, for a mapping) was written, if known.
Locate = Callable[[int, str | None], Span | None]


@dataclass(frozen=True)
class SourceResult:
    """What a source loader found: values, or problems; plus the text to scan for the key."""

    values: Sequence[Any] = ()
    problems: list[Diagnostic] = field(default_factory=list)
    text: str | None = None  # the file's text, scanned for the key with line numbers
    file: str | None = None  # the file as shown to the user; None: values are not from a file
    locate: Locate | None = None


def display_path(recipe: Recipe, relative: str) -> str:
    """A file named in the recipe, as the user should see it (beside the recipe's own name)."""
    base = os.path.dirname(recipe.source.file)
    shown = os.path.normpath(os.path.join(base, relative)) if base else os.path.normpath(relative)
    return printable(shown)


def recipe_problem(recipe: Recipe, node: NodePath, message: str, hint: str | None) -> Diagnostic:
    return Diagnostic(message, path=format_path(node), span=recipe.source.span(node), hint=hint)


def read_axis_file(
    recipe: Recipe,
    axis: Axis,
    relative: str,
    roots: tuple[Path, ...],
    max_bytes: int | None = None,
) -> tuple[bytes | None, Diagnostic | None]:
    """A data file's bytes, refused when it is outside the project, missing or too large."""
    from runner.recipe.files import confine, read_bounded
    from runner.recipe.loader import MAX_DATA_BYTES

    node = (*axis.node, axis.source.kind)
    shown = display_path(recipe, relative)
    try:
        real = confine(recipe.base_dir / relative, roots)
        limit = MAX_DATA_BYTES if max_bytes is None else max_bytes
        return read_bounded(real, limit, TOO_LARGE_HINT), None
    except FileProblem as problem:
        hint = problem.hint
        if problem.kind == "missing":
            hint = "the path is relative to the recipe file; check the spelling and the folder"
        return None, recipe_problem(recipe, node, f"the file {shown} {problem.message}", hint)


def folder_name(recipe: Recipe) -> str:
    return os.path.dirname(recipe.source.file) or "."
