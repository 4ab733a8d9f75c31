"""Load, validate and build a Recipe: the one entry point planning calls."""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.diagnostics import Diagnostic, RecipeError, display_path, suggestion_suffix
from runner.recipe.files import data_roots
from runner.recipe.include_keys import check_include_keys
from runner.recipe.loader import MAX_RECIPE_BYTES, LoadedDocument, load_yaml_file
from runner.recipe.model import (
    DEFAULT_PRICES,
    MAX_CHANNEL_SIDE,
    Axis,
    AxisSource,
    Channel,
    FitMode,
    NodePath,
    PriceTable,
    Recipe,
    ReportLayout,
    format_path,
)
from runner.recipe.pasted import check_pasted_text
from runner.recipe.schema_check import VERSION_PATH, axis_source_keys, find_secrets, validate
from runner.recipe.template_names import check_template_names

_MATRIX_KEYWORDS = ("include", "exclude")


# The recipe named on the command line belongs to the project holding that name: a link from
# there to a file elsewhere (committed in a pull request) is not read, unless allowed.
OUTSIDE_RECIPE_HINT = (
    "copy the recipe into the project, or allow the folder it is in with --allow-outside FOLDER"
)


def load_recipe(
    path: Path, *, display: str | None = None, allow_outside: Sequence[Path] = ()
) -> Recipe:
    """Read a recipe file into a Recipe; every problem found is raised in one RecipeError.

    The file must lie, links followed, inside the project of the folder it is named in (its
    git repository, else that folder) or an `allow_outside` folder (files.data_roots).
    """
    shown = display if display is not None else display_path(path)
    if path.is_dir():
        raise RecipeError(
            [
                Diagnostic(
                    "this is a folder, not a recipe file",
                    file=shown,
                    hint="give the path of a .yaml recipe inside it",
                )
            ]
        )
    doc = load_yaml_file(
        path,
        shown,
        max_bytes=MAX_RECIPE_BYTES,
        too_large_hint="a recipe is a short text file; put long lists in a CSV or YAML axis file",
        confined=(data_roots(path.absolute().parent, allow_outside), OUTSIDE_RECIPE_HINT),
    )
    pasted = check_pasted_text(doc)
    warnings = tuple(d for d in pasted if d.severity == "warning")
    pasted = [d for d in pasted if d.severity == "error"]
    problems = _explained(validate(doc), pasted)
    if problems:
        # Name checks too, when the shapes allow, so that one run shows every typo.
        # Not for another recipe version, though: its keys are not ours to check.
        wrong_version = any(p.path == VERSION_PATH for p in problems)
        if isinstance(doc.data, dict) and not find_secrets(doc) and not wrong_version:
            names = _axis_names(doc.data)
            problems = _merge(problems, _check_names(doc, names))
            problems = _merge(problems, check_template_names(doc, [n for n, _ in names]))
        raise RecipeError([*problems, *warnings])
    axes = _axes(doc.data.get("matrix") or {})
    problems = _check_names(doc, tuple((axis.name, axis.node) for axis in axes))
    problems += check_include_keys(doc.data, doc.source, [axis.name for axis in axes])
    problems += _check_prices(doc)
    problems += _check_channels(doc)
    problems += _check_output_dir(doc)
    if problems:
        raise RecipeError([*problems, *warnings])
    return dataclasses.replace(_build(path, doc, axes), warnings=warnings)


def _explained(problems: list[Diagnostic], pasted: list[Diagnostic]) -> list[Diagnostic]:
    """The schema's problems plus pasted-text errors, which replace what the schema says on their
    line (`'“high”' is not one of low, medium, high` only repeats the symptom)."""
    lines = {(d.span.file, d.span.line) for d in pasted if d.span is not None}
    kept = [d for d in problems if d.span is None or (d.span.file, d.span.line) not in lines]
    return [*kept, *pasted]


def _merge(first: list[Diagnostic], more: list[Diagnostic]) -> list[Diagnostic]:
    seen = {(d.path, d.message) for d in first}
    return [*first, *(d for d in more if (d.path, d.message) not in seen)]


def _axis_names(data: Mapping[str, Any]) -> tuple[tuple[str, NodePath], ...]:
    """The axes a matrix declares, whatever shape their values have (for name checks)."""
    matrix = data.get("matrix")
    if not isinstance(matrix, dict):
        return ()
    return tuple((name, ("matrix", name)) for name in matrix if name not in _MATRIX_KEYWORDS)


def _build(path: Path, doc: LoadedDocument, axes: tuple[Axis, ...]) -> Recipe:
    data: Mapping[str, Any] = doc.data
    matrix: Mapping[str, Any] = data.get("matrix") or {}
    report = data.get("report") or {}
    return Recipe(
        path=path.resolve(),
        name=data["name"],
        description=data.get("description") or "",
        defaults=dict(data.get("defaults") or {}),
        vars=dict(data.get("vars") or {}),
        axes=axes,
        include=tuple(matrix.get("include") or ()),
        exclude=tuple(matrix.get("exclude") or ()),
        image=data["image"],
        prompt=data["prompt"],
        output=data["output"],
        output_dir=data.get("output_dir"),
        prices=_prices(data.get("prices") or {}),
        report=ReportLayout(rows=report.get("rows"), columns=report.get("columns")),
        source=doc.source,
        max_jobs=data.get("max_jobs"),
        budget=float(data["budget"]) if data.get("budget") is not None else None,
        channels=_channels(data.get("channels") or {}),
    )


def _channels(spec: Mapping[str, Any]) -> tuple[Channel, ...]:
    """`instagram: 1080x1350` or `story: {size: 1080x1920, fit: contain, background: '#000000'}`."""
    out = []
    for name, value in spec.items():
        entry = value if isinstance(value, Mapping) else {"size": value}
        width, _, height = str(entry["size"]).partition("x")
        colour = str(entry.get("background", "#ffffff"))
        rgb = (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))
        fit: FitMode = "contain" if entry.get("fit") == "contain" else "cover"
        out.append(Channel(str(name), int(width), int(height), fit, rgb))
    return tuple(out)


def _axes(matrix: Mapping[str, Any]) -> tuple[Axis, ...]:
    axes = []
    for name, value in matrix.items():
        if name in _MATRIX_KEYWORDS:
            continue
        if isinstance(value, list):
            source = AxisSource("inline", values=tuple(value))
        else:
            # The schema allows exactly one source's key, and that source's options beside it.
            kind = next(key for key in value if key in axis_source_keys())
            options = {key: str(option) for key, option in value.items() if key != kind}
            source = AxisSource(kind, path=value[kind], options=options)
        axes.append(Axis(name=name, source=source, node=("matrix", name)))
    return tuple(axes)


def _prices(overrides: Mapping[str, Mapping[str, float]]) -> PriceTable:
    square = {**DEFAULT_PRICES.square, **overrides.get("square", {})}
    non_square = {**DEFAULT_PRICES.non_square, **overrides.get("non_square", {})}
    return PriceTable(
        square={k: float(v) for k, v in square.items()},
        non_square={k: float(v) for k, v in non_square.items()},
    )


def _check_output_dir(doc: LoadedDocument) -> list[Diagnostic]:
    """A recipe names its output folder relative to itself, so that it works in any checkout."""
    value = doc.data.get("output_dir")
    if not isinstance(value, str):
        return []
    text = value.strip()
    if not (text.startswith(("/", "\\", "~")) or (len(text) > 1 and text[1] == ":")):
        return []
    path: NodePath = ("output_dir",)
    return [
        Diagnostic(
            f"the folder {value!r} is absolute; a recipe must work wherever it is checked out",
            path=format_path(path),
            span=doc.source.span(path),
            hint="write a folder relative to the recipe, e.g. output_dir: out/spring, "
            "or give an absolute folder on the command line with -o",
        )
    ]


def _check_prices(doc: LoadedDocument) -> list[Diagnostic]:
    """Prices must be finite and not negative (the schema says so too; this is the backstop)."""
    found = []
    prices = doc.data.get("prices") or {}
    for table in ("square", "non_square"):
        for quality, value in (prices.get(table) or {}).items():
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or value < 0:
                path: NodePath = ("prices", table, quality)
                found.append(
                    Diagnostic(
                        f"the price {value!r} is not a number of dollars of 0 or more",
                        path=format_path(path),
                        span=doc.source.span(path),
                        hint="write a price such as 0.042",
                    )
                )
    return found


def _check_channels(doc: LoadedDocument) -> list[Diagnostic]:
    """Channel sides up to MAX_CHANNEL_SIDE, and channel names unique whatever their case
    (export names files after them, and macOS and Windows ignore case)."""
    found = []
    seen: dict[str, str] = {}
    for name, value in (doc.data.get("channels") or {}).items():
        size = value.get("size") if isinstance(value, Mapping) else value
        path: NodePath = (
            ("channels", name) if not isinstance(value, Mapping) else ("channels", name, "size")
        )
        sides = [int(side) for side in str(size).split("x") if side.isdigit()]
        if any(side > MAX_CHANNEL_SIDE for side in sides):
            found.append(
                Diagnostic(
                    f"the channel size {size} is larger than {MAX_CHANNEL_SIDE} pixels on a side",
                    path=format_path(path),
                    span=doc.source.span(path),
                    hint="channels are delivery sizes, such as 1080x1350",
                )
            )
        first = seen.setdefault(str(name).casefold(), str(name))
        if first != name:
            node: NodePath = ("channels", name)
            found.append(
                Diagnostic(
                    f"the channels {first!r} and {name!r} differ only in case",
                    path=format_path(node),
                    span=doc.source.span(node, key=True),
                    hint="give each channel a clearly different name: files are named after it",
                )
            )
    return found


def _check_names(doc: LoadedDocument, axes: tuple[tuple[str, NodePath], ...]) -> list[Diagnostic]:
    """Names that must refer to an axis: a typo there would otherwise silently do nothing."""
    source = doc.source
    names = [name for name, _ in axes]
    found: list[Diagnostic] = []

    def unknown(path: NodePath, what: str, name: str, *, key: bool) -> None:
        listed = ", ".join(names) if names else "none"
        found.append(
            Diagnostic(
                f"{what}'{name}' is not a matrix axis{suggestion_suffix(name, names)}",
                path=format_path(path[:-1] if key else path),
                span=source.span(path, key=key),
                hint=f"the axes are: {listed}",
            )
        )

    report = doc.data.get("report")
    for field in ("rows", "columns") if isinstance(report, dict) else ():
        name = report.get(field)
        if isinstance(name, str) and name not in names:
            unknown(("report", field), "", name, key=False)

    matrix = doc.data.get("matrix")
    exclude = matrix.get("exclude") if isinstance(matrix, dict) else None
    for index, entry in enumerate(exclude if isinstance(exclude, list) else ()):
        for key in entry if isinstance(entry, dict) else ():
            if key not in names:
                unknown(("matrix", "exclude", index, key), "exclude key ", key, key=True)

    for name, node in axes:
        keyword = _near_keyword(name)
        if keyword:
            found.append(
                Diagnostic(
                    f"'{name}' looks like a misspelling of '{keyword}'; it would be read "
                    "as an axis",
                    path="matrix",
                    span=source.span(node, key=True),
                    hint=f"write '{keyword}', or give the axis a clearly different name",
                )
            )
    return found


def _near_keyword(name: str) -> str | None:
    for keyword in _MATRIX_KEYWORDS:
        matcher = difflib.SequenceMatcher(None, name.lower(), keyword)
        # The two quick ratios are upper bounds of ratio() (as in difflib.get_close_matches):
        # they refuse most names without ratio()'s matching (~0.1 ms a name and keyword).
        if (
            matcher.real_quick_ratio() >= 0.8
            and matcher.quick_ratio() >= 0.8
            and matcher.ratio() >= 0.8
        ):
            return keyword
    return None
