"""Read a template once, the same way in every pass, and word its syntax problems for people."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.diagnostics import suggestion_suffix

if TYPE_CHECKING:
    from jinja2 import Environment
    from jinja2.nodes import Template as TemplateNode


class TemplateProblem(Exception):
    """A template cannot be compiled or rendered; `line` is the line inside the template."""

    def __init__(self, message: str, hint: str | None = None, line: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.line = line


@dataclass(frozen=True)
class ParsedTemplate:
    ast: TemplateNode
    names: tuple[str, ...]  # top-level variables the template reads


def parse_template(env: Environment, text: str) -> ParsedTemplate:
    """Parse `text` and find the variables it reads; raises TemplateProblem."""
    from jinja2 import TemplateSyntaxError, meta

    try:
        ast = env.parse(text)
        # Also compiles: unknown filters and tests are found here, not by parse().
        names = tuple(sorted(meta.find_undeclared_variables(ast)))
    except TemplateSyntaxError as exc:
        raise syntax_problem(exc, env.filters, env.tests) from None
    except (RecursionError, MemoryError):
        raise TemplateProblem(
            "this template is nested too deeply to read", hint="split it into simpler parts"
        ) from None
    return ParsedTemplate(ast, names)


def syntax_problem(exc: Any, filters: Iterable[str], tests: Iterable[str]) -> TemplateProblem:
    message = str(exc.message or "invalid template")
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
