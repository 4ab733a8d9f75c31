"""Read a template once, the same way in every pass, and word its syntax problems for people."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.diagnostics import suggestion_suffix
from runner.pastedtext import INVISIBLE, TYPOGRAPHIC_QUOTES, char_name, straightened

if TYPE_CHECKING:
    from jinja2 import Environment
    from jinja2.nodes import Template as TemplateNode


class TemplateProblem(Exception):
    """A template cannot be compiled or rendered; `line` is the line inside the template.

    `skip_later`: the template used a render's whole budget, so it is not tried again. `at`: the
    character at fault, and how many of it come before it on its line (to point at it).
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        line: int = 1,
        *,
        skip_later: bool = False,
        at: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.line = line
        self.skip_later = skip_later
        self.at = at


@dataclass(frozen=True)
class ParsedTemplate:
    ast: TemplateNode
    names: tuple[str, ...]  # top-level variables the template reads


def parse_template(env: Environment, text: str) -> ParsedTemplate:
    """Parse `text` and find the variables it reads; raises TemplateProblem."""
    from jinja2 import TemplateSyntaxError

    from runner.templating.environment import undeclared_names

    refuse_surrogates(text)
    try:
        ast = env.parse(text)
        _refuse_repeated_arguments(ast)
        # Also generates code: unknown filters and tests are found here, not by parse().
        names = tuple(sorted(undeclared_names(env, ast)))
    except TemplateSyntaxError as exc:
        raise syntax_problem(exc, env.filters, env.tests, text) from None
    except (RecursionError, MemoryError):
        raise TemplateProblem(
            "this template is nested too deeply to read", hint="split it into simpler parts"
        ) from None
    except ValueError as exc:  # Python's int() refuses a literal of more than 4,300 digits
        too_long = "digits" in str(exc)
        raise TemplateProblem(
            "template syntax error: "
            + ("a number in this template has more than 4,300 digits" if too_long else str(exc)),
            hint="write numbers of at most a few hundred digits" if too_long else None,
        ) from None
    return ParsedTemplate(ast, names)


def check_text(text: str) -> str:
    """`text`, if it can be written as UTF-8; a lone surrogate (such as '\\ud800') cannot."""
    if text.isascii():  # (a flag of the string: no copy made, as encode makes)
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        code = f"U+{ord(text[exc.start]):04X}"
        raise TemplateProblem(
            f"the template makes text with an invalid character ({code}, half of a pair that "
            "Unicode needs whole)",
            hint="remove the escape that makes it (such as \\ud800), or write the character itself",
            line=line,
        ) from None
    return text


def refuse_surrogates(text: str) -> None:
    """Raises TemplateProblem when `text` holds a lone surrogate (such as '\\ud800')."""
    try:
        check_text(text)
    except TemplateProblem as problem:
        problem.message = problem.message.replace("makes text with", "contains")
        raise


def _refuse_repeated_arguments(ast: TemplateNode) -> None:
    """Python refuses `f(a=1, a=2)` and `macro m(a, a)` when the template is compiled."""
    from jinja2 import nodes

    for node in ast.find_all((nodes.Call, nodes.Filter, nodes.Test)):
        keys = [keyword.key for keyword in getattr(node, "kwargs", ())]
        for key in keys:
            if keys.count(key) > 1:
                raise TemplateProblem(
                    f"template syntax error: the argument {key!r} is given twice",
                    hint="give each argument once",
                    line=node.lineno,
                )
    for macro in ast.find_all((nodes.Macro, nodes.CallBlock)):
        params = [arg.name for arg in getattr(macro, "args", ())]
        for name in params:
            if params.count(name) > 1:
                raise TemplateProblem(
                    f"template syntax error: the argument {name!r} is named twice",
                    hint="give each argument of a macro its own name",
                    line=macro.lineno,
                )


def syntax_problem(
    exc: Any, filters: Iterable[str], tests: Iterable[str], text: str | None = None
) -> TemplateProblem:
    message = str(exc.message or "invalid template")
    unexpected = re.fullmatch(r"unexpected char .* at (\d+)", message)
    if unexpected and text is not None and int(unexpected.group(1)) < len(text):
        pasted = _pasted_char(text, int(unexpected.group(1)))
        if pasted is not None:
            return pasted
    hint: str | None = "templates look like {{ product.name }}; check that every {{ has its }}"
    unknown = re.match(r"No (filter|test) named '([^']+)'", message)
    if unknown:
        kind, name = unknown.groups()
        choices = list(filters if kind == "filter" else tests)
        if kind == "filter" and name == "random":
            message = "the random filter is not allowed: it would change the job on every plan"
        else:
            message = f"there is no {kind} named {name!r}{suggestion_suffix(name, choices)}"
        hint = None
    return TemplateProblem(f"template syntax error: {message}", hint=hint, line=exc.lineno or 1)


def _pasted_char(text: str, position: int) -> TemplateProblem | None:
    """A typographic quote or an invisible character where Jinja expected code: named, with
    the fix, and pointed at."""
    char = text[position]
    start = text.rfind("\n", 0, position) + 1
    at = (char, text.count(char, start, position))
    line = text.count("\n", 0, position) + 1
    if char in TYPOGRAPHIC_QUOTES:
        opened = max(text.rfind("{{", 0, position), text.rfind("{%", 0, position))
        closes = [i for i in (text.find("}}", position), text.find("%}", position)) if i >= 0]
        fragment = text[opened : min(closes) + 2] if opened >= 0 and closes else ""
        fixed = f": {straightened(fragment)}" if fragment and "\n" not in fragment else ""
        return TemplateProblem(
            f"template syntax error: {char} is a typographic quote, which templates do not "
            "take for a quote",
            hint=f"use straight quotes ' or \" around text in a template{fixed} (Word and "
            "Outlook turn them into typographic ones as you type)",
            line=line,
            at=at,
        )
    if char in INVISIBLE:
        return TemplateProblem(
            f"template syntax error: an invisible {char_name(char)} is in the template",
            hint="delete it: retype the text around it (text pasted from Word, a web page or a "
            "chat often brings such characters)",
            line=line,
            at=at,
        )
    return None
