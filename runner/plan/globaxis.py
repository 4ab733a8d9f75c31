"""The {glob: ...} axis source: files matched by a pattern, confined to the recipe's project.

A recipe arrives through a pull request and CI plans it, so a pattern must not walk the
whole file system or read names outside the project; matches and time are capped too.
"""

from __future__ import annotations

import glob as globlib
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from runner.recipe.files import FileProblem, confine, path_text_problem, printable

if TYPE_CHECKING:
    from runner.plan.axes import SourceResult
    from runner.recipe.model import Axis, Recipe

MAX_GLOB_MATCHES = 10_000  # the default job cap: more files could not be planned anyway
GLOB_SECONDS = 5.0
_MAGIC = re.compile(r"[*?[]")


def load_glob(recipe: Recipe, axis: Axis, roots: tuple[Path, ...]) -> SourceResult:
    from runner.plan.axes import SourceResult, folder_name, recipe_problem

    pattern = axis.source.path or ""
    node = (*axis.node, "glob")
    shown = printable(pattern)

    def refuse(message: str, hint: str | None) -> SourceResult:
        return SourceResult(problems=[recipe_problem(recipe, node, message, hint)])

    problem = path_text_problem(pattern)
    if problem is not None:
        return refuse(f"the pattern {shown!r} cannot match a file: {problem}", None)
    if os.path.isabs(pattern) or pattern.startswith("~"):
        return refuse(
            f"the pattern {shown!r} is not relative to the recipe's folder",
            f"write it relative to the recipe's folder ({folder_name(recipe)}), "
            "e.g. 'images/*.png'",
        )
    base = recipe.base_dir
    try:
        confine(base / _fixed_prefix(pattern), roots)
    except FileProblem as outside:
        message = f"the pattern {shown!r} reaches a folder that {outside.message}"
        return refuse(message, outside.hint)

    deadline = time.monotonic() + GLOB_SECONDS
    values: list[dict[str, str]] = []
    for match in globlib.iglob(pattern, root_dir=base, recursive=True):
        if time.monotonic() > deadline:
            return refuse(
                f"the pattern {shown!r} took more than {GLOB_SECONDS:g} s to list its files",
                "make the pattern narrower, e.g. 'images/*.png' rather than '**'",
            )
        path = base / match
        if not path.is_file():
            continue
        try:
            confine(path, roots)
        except FileProblem as outside:
            return refuse(f"the file {printable(match)} {outside.message}", outside.hint)
        if len(values) >= MAX_GLOB_MATCHES:
            return refuse(
                f"the pattern {shown!r} matches more than {MAX_GLOB_MATCHES:,} files",
                "make the pattern narrower, or split the files into folders",
            )
        relative = Path(match)
        values.append({"name": relative.name, "stem": relative.stem, "path": relative.as_posix()})
    if not values:
        hint = f"patterns are relative to the recipe's folder ({folder_name(recipe)})"
        return refuse(f"the pattern {shown!r} matches no files", hint)
    values.sort(key=lambda value: value["path"])
    return SourceResult(values=values)


def _fixed_prefix(pattern: str) -> str:
    """The folders a pattern starts with before its first wildcard: 'a/b/*.png' -> 'a/b'."""
    parts = pattern.replace("\\", "/").split("/")
    fixed = []
    for part in parts[:-1]:
        if _MAGIC.search(part):
            break
        fixed.append(part)
    return "/".join(fixed) or "."
