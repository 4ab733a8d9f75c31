"""The values the recipe stage hands to planning. Nothing past here sees raw YAML."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from runner.diagnostics import Diagnostic, Span, source_lines

# A path inside a YAML document: keys and list indexes from the root.
NodePath = tuple[str | int, ...]


def format_path(path: NodePath) -> str:
    """("matrix", "include", 0, "season") -> "matrix.include[0].season"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(frozen=True)
class SourceMap:
    """Where each node of a YAML document came from, so that any later stage can point at it.

    `values` maps a node path to the (line, col, end_line, end_col) of its value, `keys` to that
    of the mapping key naming it; all 0-based as PyYAML marks are.
    """

    file: str  # the path as the user should see it (relative to the working folder when possible)
    text: str
    values: Mapping[NodePath, tuple[int, int, int, int]] = field(default_factory=dict)
    keys: Mapping[NodePath, tuple[int, int, int, int]] = field(default_factory=dict)

    def span(self, path: NodePath, *, key: bool = False) -> Span | None:
        """The span of a node (or its key), falling back to the nearest ancestor that has one."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while True:
            mark = table.get(probe)
            if mark is None and key:
                mark = self.values.get(probe)
            if mark is not None:
                return self._to_span(mark)
            if not probe:
                return None
            probe = probe[:-1]

    @cached_property
    def lines(self) -> tuple[str, ...]:
        """The text's lines, split once: a plan may point at a 1 MB recipe for every job."""
        return source_lines(self.text)

    def _to_span(self, mark: tuple[int, int, int, int]) -> Span:
        line, col, end_line, end_col = mark
        lines = self.lines
        text = lines[line] if line < len(lines) else ""
        if end_line != line:
            end_col = len(text)
        return Span(self.file, line + 1, col + 1, max(end_col, col + 1) + 1, text)


@dataclass(frozen=True)
class AxisSource:
    """Where an axis' values come from."""

    kind: str  # a key of plan.axes.SOURCES ("inline": a list written in the recipe)
    values: tuple[Any, ...] = ()  # inline values, as written
    path: str | None = None  # the kind's value: a file or a glob pattern, relative to the recipe
    options: Mapping[str, str] = field(default_factory=dict)  # the keys beside it (xlsx: sheet)


@dataclass(frozen=True)
class Axis:
    name: str
    source: AxisSource
    node: NodePath  # where the axis is declared, e.g. ("matrix", "season")


@dataclass(frozen=True)
class PriceTable:
    """USD per generated image, by quality, for square and for non-square sizes."""

    square: Mapping[str, float]
    non_square: Mapping[str, float]

    def price(self, quality: str, size: str) -> float:
        width, _, height = size.partition("x")
        table = self.square if width == height else self.non_square
        return float(table[quality])


# OpenAI's list prices for gpt-image-1 per image; a recipe or a flag may override them.
DEFAULT_PRICES = PriceTable(
    square={"low": 0.011, "medium": 0.042, "high": 0.167},
    non_square={"low": 0.016, "medium": 0.063, "high": 0.25},
)


@dataclass(frozen=True)
class ReportLayout:
    rows: str | None = None
    columns: str | None = None


FitMode = Literal["cover", "contain"]
MAX_CHANNEL_SIDE = 8192  # pixels: a delivery size, not a poster


@dataclass(frozen=True)
class Channel:
    """A delivery size `backdrop export` resizes approved images to."""

    name: str
    width: int
    height: int
    fit: FitMode = "cover"  # cover: fill and crop the centre; contain: whole image, padded
    background: tuple[int, int, int] = (255, 255, 255)  # what `contain` pads with

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. Template strings are still unrendered here."""

    path: Path  # absolute path of the recipe file
    name: str
    description: str
    defaults: Mapping[str, Any]  # promptObject fields -> value or template string
    vars: Mapping[str, Any]
    axes: tuple[Axis, ...]
    include: tuple[Mapping[str, Any], ...]
    exclude: tuple[Mapping[str, Any], ...]
    image: str
    prompt: str
    output: str
    output_dir: str | None  # as written, relative to the recipe; None means out/<name>/
    prices: PriceTable
    report: ReportLayout
    source: SourceMap
    max_jobs: int | None = None  # the recipe's own cap on the job count; None: the default cap
    budget: float | None = None  # USD this output folder may cost at most (estimate)
    channels: tuple[Channel, ...] = ()  # export sizes, in recipe order
    warnings: tuple[Diagnostic, ...] = ()  # usable, but probably not what was meant

    @property
    def base_dir(self) -> Path:
        return self.path.parent
