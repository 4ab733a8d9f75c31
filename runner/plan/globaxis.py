"""The {glob: ...} axis source: files matched by a pattern, confined to the recipe's project.

A recipe arrives through a pull request and CI plans it, so a pattern must not walk the
whole file system or read names outside the project; matches and time are capped too.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runner.plan.axis_source import SourceResult, folder_name, recipe_problem
from runner.recipe.files import FileProblem, confine, path_text_problem, printable

if TYPE_CHECKING:
    from runner.recipe.model import Axis, Recipe

MAX_GLOB_MATCHES = 10_000  # the default job cap: more files could not be planned anyway
GLOB_SECONDS = 5.0
_MAGIC = re.compile(r"[*?[]")


def load_glob(recipe: Recipe, axis: Axis, roots: tuple[Path, ...]) -> SourceResult:
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

    values: list[dict[str, str]] = []
    seen: set[str] = set()
    try:
        for match in walk_glob(base, pattern, time.monotonic() + GLOB_SECONDS):
            path = base / match
            if match in seen or not path.is_file():
                continue
            seen.add(match)
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
            values.append(
                {"name": relative.name, "stem": relative.stem, "path": relative.as_posix()}
            )
    except _TooSlow:
        return refuse(
            f"the pattern {shown!r} took more than {GLOB_SECONDS:g} s to list its files",
            "make the pattern narrower, e.g. 'images/*.png' rather than '**'",
        )
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


class _TooSlow(Exception):
    """The walk went past its deadline."""


def walk_glob(base: Path, pattern: str, deadline: float) -> Iterator[str]:
    """The paths matching `pattern` below `base`, as glob.iglob(recursive=True) finds them.

    Written out rather than calling iglob so that the deadline is checked at every folder read:
    iglob yields only matches, so a `**` walk of a huge tree with none could never be stopped.
    Like glob, `*` and `**` skip names starting with '.'; unlike it, `**` does not descend into
    symlinked folders (a loop would never end, and what they point at is refused anyway).
    Depth-first with a stack of its own, not recursion: a pull request can commit a tree
    thousands of folders deep. Raises _TooSlow.
    """
    parts = pattern.split("/")
    stack = [_match(base, "", parts, 0, deadline)]
    while stack:
        found = next(stack[-1], None)
        if found is None:
            stack.pop()
        elif isinstance(found, _Below):
            stack.append(_match(base, found.prefix, parts, found.part, deadline))
        else:
            yield found


@dataclass(frozen=True)
class _Below:
    """Match parts[part:] below `prefix` (what a recursive glob would call itself for)."""

    prefix: str
    part: int


def _match(
    base: Path, prefix: str, parts: list[str], at: int, deadline: float
) -> Iterator[str | _Below]:
    head, more = parts[at], at + 1 < len(parts)
    if head == "**":
        for folder, entries in _walk(base, prefix, deadline):
            if more:
                yield _Below(folder, at + 1)
                continue
            if folder != prefix:
                yield folder
            for name, is_dir in entries:
                if not is_dir and not name.startswith("."):
                    yield os.path.join(folder, name)
        return
    if not _MAGIC.search(head):
        names = [head] if os.path.lexists(base / prefix / head) else []
    else:
        hidden = head.startswith(".")
        names = [
            name
            for name, _ in _entries(base / prefix, deadline)
            if (hidden or not name.startswith(".")) and fnmatch.fnmatchcase(name, head)
        ]
    for name in names:
        path = os.path.join(prefix, name)
        if not more:
            yield path
        elif os.path.isdir(base / path):
            yield _Below(path, at + 1)


def _walk(base: Path, prefix: str, deadline: float) -> Iterator[tuple[str, list[tuple[str, bool]]]]:
    """`prefix` and every folder below it (not hidden, not through symlinks) with its entries,
    depth first in name order."""
    entries = _entries(base / prefix, deadline)
    yield prefix, entries
    stack = [(prefix, iter(entries))]
    while stack:
        folder, children = stack[-1]
        for name, is_dir in children:
            if is_dir and not name.startswith("."):
                path = os.path.join(folder, name)
                below = _entries(base / path, deadline)
                yield path, below
                stack.append((path, iter(below)))
                break
        else:
            stack.pop()


def _entries(folder: Path, deadline: float) -> list[tuple[str, bool]]:
    """(name, is a real folder) for each entry of `folder`; nothing when it cannot be read."""
    if time.monotonic() > deadline:
        raise _TooSlow
    try:
        with os.scandir(folder) as entries:
            return sorted((e.name, e.is_dir(follow_symlinks=False)) for e in entries)
    except OSError:
        return []
