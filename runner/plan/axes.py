"""Load each matrix axis into its list of values, through one registry of axis sources.

A source kind (inline, csv, yaml, glob, xlsx) is one loader function and one entry in SOURCES,
which also says what the recipe schema tells editors of it (`make schemas` writes the schema
from SOURCES); an unknown kind is an error, never a fall-through. The API-key scan runs here,
once, for every source, so that a new source cannot forget it. Each source also says where
each value was written (`locate`), so that a problem with a value points at it: a recipe line,
a CSV cell, a workbook cell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.apikey import KEY_HINT, find_key_in_text
from runner.diagnostics import Diagnostic, RecipeError, Span, suggestion_suffix
from runner.plan.axis_source import (
    TOO_LARGE_HINT,
    Locate,
    SourceResult,
    display_path,
    read_axis_file,
    recipe_problem,
)
from runner.plan.secrets import contains_key, key_in_values
from runner.recipe.files import data_roots
from runner.recipe.model import Axis, NodePath, Recipe, SourceMap

if TYPE_CHECKING:
    from runner.plan.csvfile import CsvTable

# What an axis file may hold, beyond its size (MAX_DATA_BYTES): every cell of a CSV file, and
# every value of a YAML file, becomes a Python object of a hundred bytes or more, so 50 MB of
# "a\n" were 25 million rows (5 GB). A CSV file's separators and line ends are counted before
# it is read; a YAML file is read by size, as its values are only counted once composed.
MAX_CSV_CELLS = 1_000_000
MAX_YAML_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class AxisValues:
    """An axis with its values loaded, in file (or declaration) order."""

    name: str
    values: tuple[Any, ...]
    node: NodePath  # where the axis is declared in the recipe
    locate: Locate | None = None


@dataclass(frozen=True)
class AxisSourceKind:
    load: Callable[[Recipe, Axis, tuple[Path, ...]], SourceResult]
    key_message: str  # said when a loaded value (not a file's line) holds the API key
    # What the recipe schema says of it: the JSON Schema of its value (of the list, for inline),
    # how the axis' description lists it, an editor snippet, and any keys beside its own.
    schema: Mapping[str, Any]
    summary: str
    snippet: tuple[str, Any]  # (what it does, what it writes)
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def load_axes(
    recipe: Recipe, roots: tuple[Path, ...] | None = None
) -> tuple[tuple[AxisValues, ...], list[Diagnostic]]:
    """Every axis that loaded, plus a diagnostic for each one that did not.

    `roots` are the folders data files may come from (default: the recipe's project).
    """
    if roots is None:
        roots = data_roots(recipe.base_dir)
    loaded: list[AxisValues] = []
    problems: list[Diagnostic] = []
    for axis in recipe.axes:
        kind = SOURCES.get(axis.source.kind)
        if kind is None:
            problems.append(_unknown_kind(recipe, axis))
            continue
        result = kind.load(recipe, axis, roots)
        secret = _find_key(recipe, axis, kind, result)
        if secret is not None:
            problems.append(secret)  # alone: other messages might quote the key's line
            continue
        problems.extend(result.problems)
        if any(problem.severity == "error" for problem in result.problems):
            continue
        if not result.values:
            problems.append(_empty_axis(recipe, axis))
            continue
        loaded.append(AxisValues(axis.name, tuple(result.values), axis.node, result.locate))
    return tuple(loaded), problems


def _find_key(
    recipe: Recipe, axis: Axis, kind: AxisSourceKind, result: SourceResult
) -> Diagnostic | None:
    if result.text is not None and result.file is not None:
        found = find_key_in_text(result.text, result.file)
        if found is not None:
            return found
    if not contains_key(result.values):
        return None
    if result.file is not None:
        return key_in_values(result.values, result.file)  # written with escapes such as \x41
    node = (*axis.node, axis.source.kind) if axis.source.kind != "inline" else axis.node
    return recipe_problem(recipe, node, kind.key_message, KEY_HINT)


def _load_inline(recipe: Recipe, axis: Axis, roots: tuple[Path, ...]) -> SourceResult:
    return SourceResult(values=axis.source.values, locate=_in_document(recipe.source, axis.node))


def _in_document(source: SourceMap, node: NodePath) -> Locate:
    """Values written in a YAML document (the recipe, or a {yaml: ...} file), under `node`."""

    def locate(index: int, name: str | None) -> Span | None:
        return source.span((*node, index) if name is None else (*node, index, name))

    return locate


def _in_csv(table: CsvTable, shown: str) -> Locate:
    """CSV cells, as FILE:LINE:COLUMN at the cell (the first line of a cell with line breaks)."""
    from runner.plan.csvfile import cell_offsets

    lines = table.text.splitlines()
    columns = {name: i for i, name in enumerate(table.rows[0])} if table.rows else {}

    def locate(index: int, name: str | None) -> Span | None:
        if not 0 <= index < len(table.lines) or table.lines[index] > len(lines):
            return None
        number = table.lines[index]
        text = lines[number - 1]
        cells = cell_offsets(text, table.delimiter)
        column = columns.get(name, 0) if name is not None else 0
        start, end = cells[column] if column < len(cells) else (0, len(text))
        return Span(shown, number, start + 1, max(end, start + 1) + 1, text)

    return locate


def _load_csv(recipe: Recipe, axis: Axis, roots: tuple[Path, ...]) -> SourceResult:
    from runner.plan.csvfile import read_csv_table  # here: a recipe without a CSV axis never does

    assert axis.source.path is not None
    data, problem = read_axis_file(recipe, axis, axis.source.path, roots)
    if data is None:
        return SourceResult(problems=[problem] if problem else [])
    shown = display_path(recipe, axis.source.path)
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")):
        # A workbook given as `csv:` (renamed, or the wrong key): its bytes would read as noise.
        message = f"the file {shown} is an Excel workbook, not a CSV file"
        hint = f"read it with {{xlsx: {axis.source.path}}} instead of {{csv: ...}}"
        node = (*axis.node, "csv")
        return SourceResult(problems=[recipe_problem(recipe, node, message, hint)])
    cells = sum(data.count(separator) for separator in (b",", b";", b"\t", b"\n", b"\r"))
    if cells > MAX_CSV_CELLS:
        node = (*axis.node, axis.source.kind)
        message = (
            f"the file {shown} has more than {MAX_CSV_CELLS:,} cells (counting every separator "
            "and line end); an axis file may have at most that many"
        )
        return SourceResult(problems=[recipe_problem(recipe, node, message, TOO_LARGE_HINT)])
    table, problems = read_csv_table(data, shown)
    text = table.text or data.decode("latin-1")
    return SourceResult(table.rows, problems, text, shown, _in_csv(table, shown))


def _load_yaml(recipe: Recipe, axis: Axis, roots: tuple[Path, ...]) -> SourceResult:
    from runner.recipe import loader
    from runner.recipe.loader import decode_yaml, load_yaml

    assert axis.source.path is not None

    limit = min(loader.MAX_DATA_BYTES, MAX_YAML_BYTES)
    data, problem = read_axis_file(recipe, axis, axis.source.path, roots, limit)
    if data is None:
        return SourceResult(problems=[problem] if problem else [])
    shown = display_path(recipe, axis.source.path)
    text = data.decode("utf-8", "replace")
    try:
        document = load_yaml(decode_yaml(data, shown), shown)
    except RecipeError as exc:
        return SourceResult(problems=list(exc.diagnostics()), text=text, file=shown)
    values = document.data
    if not isinstance(values, list):
        what = "nothing" if values is None else "one value"
        what = "a mapping" if isinstance(values, dict) else what
        message = f"this file holds {what}; an axis file must hold a list (one '- ' item per value)"
        diagnostic = Diagnostic(message, span=document.source.span(()), file=shown)
        return SourceResult(problems=[diagnostic], text=text, file=shown)
    return SourceResult(values, [], text, shown, _in_document(document.source, ()))


def _load_glob(recipe: Recipe, axis: Axis, roots: tuple[Path, ...]) -> SourceResult:
    from runner.plan.globaxis import load_glob

    return load_glob(recipe, axis, roots)


def _load_xlsx(recipe: Recipe, axis: Axis, roots: tuple[Path, ...]) -> SourceResult:
    from runner.plan.workbook import load_xlsx

    return load_xlsx(recipe, axis, roots)


def _file(title: str, description: str) -> dict[str, Any]:
    return {"title": title, "description": description, "type": "string", "minLength": 1}


_IN_FILE = "a value in this file contains your API key"
SOURCES: Mapping[str, AxisSourceKind] = {
    "inline": AxisSourceKind(
        _load_inline,
        "a value of this axis contains your API key",
        {
            "type": "array",
            "minItems": 1,
            "items": {"type": ["string", "number", "boolean", "object"]},
        },
        "a list (of text, numbers or mappings)",
        ("Values written in the recipe", ["${1:value}"]),
    ),
    "csv": AxisSourceKind(
        _load_csv,
        _IN_FILE,
        _file(
            "CSV file",
            "A CSV file relative to the recipe; its header row names the keys of each row.",
        ),
        "csv (a CSV file, one mapping per row)",
        ("One value per row of a CSV file", {"csv": "${1:data/markets.csv}"}),
    ),
    "yaml": AxisSourceKind(
        _load_yaml,
        _IN_FILE,
        _file("YAML file", "A YAML file relative to the recipe holding a list of values."),
        "yaml (a YAML file holding a list)",
        ("The list in a YAML file", {"yaml": "${1:data/products.yaml}"}),
    ),
    "glob": AxisSourceKind(
        _load_glob,
        "a file name matched by this pattern contains your API key (ONEMIN_API_KEY)",
        _file(
            "File pattern",
            "A pattern such as images/*.png relative to the recipe; each match becomes"
            " {path, name, stem}.",
        ),
        "glob (image files matching a pattern, each as {path, name, stem})",
        ("One value per matching image file", {"glob": "${1:images/*.png}"}),
    ),
    "xlsx": AxisSourceKind(
        _load_xlsx,
        "a cell of this workbook contains your API key",
        _file(
            "Excel workbook",
            "An Excel workbook (.xlsx or .xlsm) relative to the recipe; the first row of the sheet"
            " names the keys of each row. Add sheet: NAME to read another sheet than the first.",
        ),
        "xlsx (an Excel workbook, one mapping per row of a sheet, with an optional sheet)",
        (
            "One value per row of an Excel sheet",
            {"xlsx": "${1:data/markets.xlsx}", "sheet": "${2:Sheet1}"},
        ),
        {
            "sheet": {
                "title": "Sheet",
                "description": "The sheet of the workbook to read, by its tab name (default: the"
                " first sheet).",
                "type": ["string", "integer"],
                "minLength": 1,
            }
        },
    ),
}


def _unknown_kind(recipe: Recipe, axis: Axis) -> Diagnostic:
    kind = str(axis.source.kind)
    kinds = [name for name in SOURCES if name != "inline"]
    message = f"unknown axis source {kind!r}{suggestion_suffix(kind, kinds)}"
    hint = f"an axis is a list of values, or one of {', '.join(kinds)}"
    return recipe_problem(recipe, axis.node, message, hint)


def _empty_axis(recipe: Recipe, axis: Axis) -> Diagnostic:
    kind = axis.source.kind
    if kind == "inline":
        message = f"the axis {axis.name!r} has no values"
    else:
        message = f"the axis {axis.name!r} has no values: {axis.source.path} has no rows"
    hint = "give the axis at least one value, or remove it"
    return recipe_problem(recipe, axis.node, message, hint)
