"""Where a line inside a template is in the recipe file, for diagnostics of every pass."""

from __future__ import annotations

from runner.diagnostics import Span
from runner.recipe.model import NodePath, SourceMap


def template_span(
    source: SourceMap, node: NodePath, template_line: int, at: tuple[str, int] | None = None
) -> Span | None:
    """The recipe line of a template's `template_line` (block scalars start below their `|`);
    with `at` (a character and how many of it come before it on its line), that character."""
    span = _line_span(source, node, template_line)
    if span is None or at is None:
        return span
    char, before = at
    mark = source.values.get(node)
    # On the value's first line, the template starts at the value, not at the line's start.
    index = mark[1] - 1 if mark is not None and mark[0] + 1 == span.line else -1
    for _ in range(before + 1):
        index = span.text.find(char, index + 1)
        if index < 0:
            return span
    return Span(span.file, span.line, index + 1, index + 2, span.text)


def _line_span(source: SourceMap, node: NodePath, template_line: int) -> Span | None:
    mark = source.values.get(node)
    if mark is None or (template_line <= 1 and not _is_block(source, mark)):
        return source.span(node)
    line, _, end_line, _ = mark
    lines = source.lines
    target = line + template_line if _is_block(source, mark) else line + template_line - 1
    if target >= len(lines) or target > end_line:
        return source.span(node)
    text = lines[target]
    start = len(text) - len(text.lstrip())
    return Span(source.file, target + 1, start + 1, max(len(text), start + 1) + 1, text)


def _is_block(source: SourceMap, mark: tuple[int, int, int, int]) -> bool:
    line, col, _, _ = mark
    lines = source.lines
    return line < len(lines) and lines[line][col : col + 1] in ("|", ">")
