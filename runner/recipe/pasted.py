"""Text pasted from Word, Outlook or a web page, as YAML reads it: said at the character, with
the fix.

- `output: “{{ market.code }}”`: typographic quotes are not quotes to YAML; they stay in the
  text, and in every folder name made from it. An error where the text is a path, a name or a
  setting; a warning where it is still usable text (a prompt, a variable, a matrix value).
- `- sku:<U+00A0>MUG-01`: after a colon, a space YAML does not see makes the line one piece of
  text. (The same inside a mapping is a syntax error: runner/recipe/yaml_errors.py says it.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from runner.api.limits import PROMPT_FIELDS
from runner.diagnostics import Diagnostic, Span
from runner.pastedtext import wrapped_in_quotes
from runner.recipe.loader import LoadedDocument
from runner.recipe.model import NodePath, SourceMap, format_path
from runner.recipe.yaml_errors import ODD_COLON_HINT, odd_colon_message, odd_space_after_colon

_TEXT_KEYS = ("prompt", "description", "vars")  # where quotes stay usable text


def check_pasted_text(doc: LoadedDocument) -> list[Diagnostic]:
    """Errors and warnings for the marks of pasted text in a loaded recipe, in file order."""
    found: list[Diagnostic] = []
    source = doc.source
    lines = source.text.splitlines()
    for path, text, is_key in _strings(doc.data, ()):
        mark = (source.keys if is_key else source.values).get(path)
        if mark is None:
            continue
        line, col, end_line, _ = mark
        written = lines[line] if line < len(lines) else ""
        after_colon = odd_space_after_colon(text)
        if after_colon is not None and written[col : col + 1] == text[:1]:
            key, offset, char = after_colon
            span = _span(source, line, col + offset, col + offset + 1)
            message = odd_colon_message(key, char)
            where = format_path(path[:-1] if is_key else path)
            found.append(Diagnostic(message, where, span, ODD_COLON_HINT))
        elif not is_key and wrapped_in_quotes(text) and written[col : col + 1] == text[0]:
            end = len(written) if end_line != line else mark[3]
            found.append(_quoted(source, path, text, line, col, end))
    return found


def _strings(data: Any, path: NodePath) -> Iterator[tuple[NodePath, str, bool]]:
    """(path, text, is it a key) of every string in the document."""
    if isinstance(data, str):
        yield path, data, False
    elif isinstance(data, dict):
        for key, value in data.items():
            yield (*path, key), key, True
            yield from _strings(value, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _strings(item, (*path, index))


def _quoted(
    source: SourceMap, path: NodePath, text: str, line: int, col: int, end: int
) -> Diagnostic:
    opening, closing = text[0], text[-1]
    usable = _is_usable_text(path)
    if usable:
        consequence = "they stay in the text, and in any file name made from it"
    else:
        consequence = "they become part of the value (and of any file or folder name made from it)"
    message = f"{opening} and {closing} are not quotes in YAML: {consequence}"
    written = source.text.splitlines()[line]
    fixed = f"{written[:col]}{_straight_quoted(text[1:-1])}{written[end:]}".strip()
    hint = f'use straight quotes " instead: {fixed}'
    if usable:
        hint += "; or, to keep the typographic quotes, put the whole value in straight quotes"
    span = _span(source, line, col, end)
    if usable:
        return Diagnostic(message, format_path(path), span, hint, "warning")
    return Diagnostic(message, format_path(path), span, hint)


def _straight_quoted(inner: str) -> str:
    """`inner` in YAML quotes: double, or single when it holds a double quote."""
    if '"' not in inner:
        return f'"{inner}"'
    if "'" not in inner:
        return f"'{inner}'"
    return '"' + inner.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _is_usable_text(path: NodePath) -> bool:
    """Is the value at `path` text that may hold quotes (a prompt) rather than a path or a
    setting? Matrix values are, unless they name a promptObject field."""
    if path[:1] and path[0] in _TEXT_KEYS:
        return True
    if path[:1] != ("matrix",) or len(path) < 3:
        return False
    if path[1] in ("include", "exclude"):
        return path[1] == "include" and len(path) > 3 and path[3] not in PROMPT_FIELDS
    return isinstance(path[2], int)  # an inline axis value, not a {csv: ...} file


def _span(source: SourceMap, line: int, col: int, end: int) -> Span:
    text = source.text.splitlines()[line] if line < len(source.text.splitlines()) else ""
    return Span(source.file, line + 1, col + 1, max(end, col + 1) + 1, text)
