"""A look at the templates when the schema check already failed, so one run shows every typo.

Planning renders every template for every job and reports what goes wrong there; it cannot run
on a recipe whose shape is wrong. This static pass finds what it can without rendering: syntax
errors, unknown filters and names that nothing defines. It reads templates with the same
environment as rendering (runner.templating), so both passes accept the same filters and globals.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from runner.diagnostics import Diagnostic, suggestion_suffix
from runner.recipe.loader import LoadedDocument
from runner.recipe.model import NodePath, format_path
from runner.recipe.template_location import template_span
from runner.templating.environment import TEMPLATE_LOCALS, template_environment
from runner.templating.parse import TemplateProblem, parse_template


def check_template_names(doc: LoadedDocument, axis_names: Iterable[str]) -> list[Diagnostic]:
    data = doc.data
    if not isinstance(data, Mapping):
        return []
    known = {*axis_names, "recipe", *_keys(data.get("vars")), *_include_keys(data.get("matrix"))}
    env = template_environment()  # shared: this pass only parses, nothing renders
    defined = {*env.globals, *TEMPLATE_LOCALS}
    found: list[Diagnostic] = []
    for node, text in _templates(data):
        span = doc.source.span(node)
        where = format_path(node)
        try:
            parsed = parse_template(env, text)
        except TemplateProblem as problem:
            span = template_span(doc.source, node, problem.line, problem.at)
            found.append(Diagnostic(problem.message, where, span, hint=problem.hint))
            continue
        for name in sorted(set(parsed.names) - known - defined):
            found.append(
                Diagnostic(
                    f"'{name}' is undefined{suggestion_suffix(name, known)}",
                    where,
                    span,
                    hint=f"the variables here are: {', '.join(sorted(known))}",
                )
            )
    return found


def _templates(data: Mapping[str, Any]) -> Iterator[tuple[NodePath, str]]:
    for field in ("image", "prompt", "output"):
        yield from _if_template((field,), data.get(field))
    defaults = data.get("defaults")
    if isinstance(defaults, Mapping):
        for name, value in defaults.items():
            yield from _if_template(("defaults", str(name)), value)


def _if_template(node: NodePath, value: Any) -> Iterator[tuple[NodePath, str]]:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        yield node, value


def _keys(value: Any) -> list[str]:
    return [str(key) for key in value] if isinstance(value, Mapping) else []


def _include_keys(matrix: Any) -> list[str]:
    include = matrix.get("include") if isinstance(matrix, Mapping) else None
    if not isinstance(include, list):
        return []
    return [str(key) for entry in include if isinstance(entry, Mapping) for key in entry]
