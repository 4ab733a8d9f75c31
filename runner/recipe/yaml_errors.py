"""Plain-English YAML errors: PyYAML's problems reworded, with hints for the usual mistakes."""

from __future__ import annotations

import re

import yaml

from runner.apikey import redact
from runner.diagnostics import Diagnostic, RecipeError, Span, source_lines
from runner.pastedtext import ODD_SPACES, char_name

TAB_HINT = "YAML does not allow tabs for indentation; use spaces"
ODD_SPACE_HINT = (
    "retype the start of that line with ordinary spaces (this character often comes with text"
    " pasted from Word, a web page or a chat)"
)
ODD_COLON_HINT = (
    "retype the space after the colon: delete it and type an ordinary space (this character "
    "often comes with text pasted from Word, a web page or a chat)"
)
# `key:` followed by a space YAML does not count as one: the line is text, not a key and value.
_ODD_AFTER_COLON = re.compile(
    r"^(\s*(?:-\s+)*)([^\s:#'\"{\[][^:#]*?):([" + "".join(ODD_SPACES) + "])"
)
TEMPLATE_HINT = 'a value that starts with {{ must be quoted: prompt: "{{ product.name }} ..."'
# An unquoted value (after `key:` or `- `) that starts with `{{`.
_UNQUOTED_TEMPLATE = re.compile(r"^\s*(?:-\s+)*(?:[^\s'\"#{\[][^#]*?:\s+)?\{\{")


def odd_space_start(key: str) -> tuple[str, str] | None:
    """(the key without them, the first one) when `key` starts with spaces YAML does not count
    as indentation: a line indented with a full-width space makes a key '\u3000image'."""
    start = len(key) - len(key.lstrip("".join(ODD_SPACES) + " "))
    if start == 0 or key[0] not in ODD_SPACES:
        return None
    return key[start:], key[0]


def odd_space_name(char: str) -> str:
    return char_name(char)


def odd_space_after_colon(line: str) -> tuple[str, int, str] | None:
    """(the key, the 0-based column of the odd space, the odd space) when `line` starts with
    `key:` and an odd space: 'quality:\u00a0medium' looks like a key but is one word to YAML."""
    match = _ODD_AFTER_COLON.match(line)
    if match is None:
        return None
    return match.group(2).strip(), match.start(3), match.group(3)


def odd_colon_message(key: str, char: str) -> str:
    return (
        f"the ':' after '{key}' is followed by a {char_name(char)}, which YAML does not take for"
        " a space: it reads this line as one piece of text, not as a key and its value"
    )


def file_error(file: str, message: str, hint: str | None) -> RecipeError:
    return RecipeError([Diagnostic(message, hint=hint, file=file)])


def span_at(file: str, text: str, line: int, col: int, end_col: int | None) -> Span:
    """A Span from 0-based positions; without an end, it covers one character."""
    lines = source_lines(text)
    source = redact(lines[line]) if line < len(lines) else ""
    end = end_col if end_col is not None and end_col > col else col + 1
    return Span(file, line + 1, col + 1, end + 1, source)


def _line(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line] if 0 <= line < len(lines) else ""


def syntax_diagnostic(exc: yaml.MarkedYAMLError, file: str, text: str) -> Diagnostic:
    problem = exc.problem or exc.context or "invalid YAML"
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line, mark.column) if mark is not None else (0, 0)
    context_line = exc.context_mark.line if exc.context_mark is not None else line
    message, hint = _explain(problem, exc.context or "", context_line + 1)
    if "could not find expected ':'" in problem and exc.context_mark is not None:
        # PyYAML notices the missing colon on the next line; the key that lacks it is here.
        line, col = exc.context_mark.line, exc.context_mark.column
        message = "this line has no ':' after its key"
        hint = "write 'key: value' (a colon and a space after the key), or quote the whole text"
    for candidate in dict.fromkeys((context_line, line)):
        after_colon = odd_space_after_colon(_line(text, candidate))
        if after_colon is not None:
            key, col, char = after_colon
            span = span_at(file, text, candidate, col, None)
            return Diagnostic(odd_colon_message(key, char), span=span, hint=ODD_COLON_HINT)
    odd = _odd_space_line(text, max(line, context_line))
    if odd is not None:
        # Invisible in an editor, but not a space to YAML: the real culprit of the error.
        line, col, char = odd
        message = f"a line is indented with a {odd_space_name(char)}, not a space"
        return Diagnostic(message, span=span_at(file, text, line, col, None), hint=ODD_SPACE_HINT)
    for candidate in (line, context_line):
        source = _line(text, candidate)
        if "\t" in source[: len(source) - len(source.lstrip())]:
            message, hint = "a line is indented with a tab", TAB_HINT
            if candidate != line:
                line, col = candidate, 0
            break
        if _UNQUOTED_TEMPLATE.match(source):
            hint = TEMPLATE_HINT
            break
    return Diagnostic(message, span=span_at(file, text, line, col, None), hint=hint)


def _odd_space_line(text: str, last: int) -> tuple[int, int, str] | None:
    """The nearest line up to `last` (0-based) whose indentation holds a space YAML does not
    count as one: (line, column, the character)."""
    lines = text.splitlines()
    for number in range(min(last, len(lines) - 1), -1, -1):
        source = lines[number]
        for col, char in enumerate(source):
            if char in ODD_SPACES:
                if number == 0 and col == 0 and char == "\ufeff":
                    break  # a byte-order mark, not indentation
                return number, col, char
            if char not in " \t":
                break
    return None


def _explain(problem: str, context: str, context_line: int) -> tuple[str, str | None]:
    """PyYAML's parser wording, in words a recipe author can act on."""
    if "'\\t'" in problem or "tab" in problem:
        return "a line is indented with a tab", TAB_HINT
    if problem.startswith("mapping values are not allowed"):
        return (
            "unexpected ':' in a value",
            'put the value in quotes when it contains ": ", e.g. title: "Sale: 20% off"',
        )
    if "could not find expected ':'" in problem:
        return (
            "expected a 'key: value' line",
            "check for a missing ':' after a key or a quote that is never closed",
        )
    if "<block mapping start>" in problem or "<block sequence start>" in problem:
        return (
            "this line is indented differently from the lines above it",
            "keys at the same level must start in the same column",
        )
    if problem.startswith("expected <block end>"):
        return (
            "unexpected text after a value",
            "check the indentation, or put the whole value in quotes",
        )
    if "end of stream" in problem and "quoted scalar" in context:
        return (f"the quote opened on line {context_line} is never closed", "add the closing quote")
    for opener, closer, what in (("[", "]", "list"), ("{", "}", "mapping")):
        if f"'{closer}'" in problem and "flow" in context:
            return (
                f"the {what} opened with '{opener}' on line {context_line} is not closed",
                f"add the missing ',' or '{closer}'",
            )
    if "another document" in problem:
        return (
            "the file holds more than one YAML document (a second '---')",
            "a recipe is a single document; remove the extra '---'",
        )
    return f"invalid YAML: {problem}", None


def reader_diagnostic(exc: yaml.reader.ReaderError, file: str, text: str) -> Diagnostic:
    position = max(0, min(exc.position, len(text)))
    line = text.count("\n", 0, position)
    col = position - (text.rfind("\n", 0, position) + 1)
    code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or " ")
    return Diagnostic(
        f"the file contains a character YAML does not allow (#x{code:04x})",
        span=span_at(file, text, line, col, None),
        hint="remove it (it is often an invisible control character pasted from elsewhere)",
    )
