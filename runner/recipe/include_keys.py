"""An `include` key must do something: set a promptObject field, or feed a template.

`qualty: high` next to `product: {code: "007"}` would otherwise add a variable nothing reads,
and the hero shots would stay at medium quality without a word.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from runner.api.limits import PROMPT_FIELDS
from runner.diagnostics import Diagnostic, did_you_mean
from runner.recipe.model import NodePath, SourceMap, format_path


def check_include_keys(
    data: Mapping[str, Any], source: SourceMap, axis_names: Iterable[str]
) -> list[Diagnostic]:
    """A diagnostic for each include key that is not an axis, a field, nor used by a template."""
    matrix = data.get("matrix")
    include = matrix.get("include") if isinstance(matrix, Mapping) else None
    if not isinstance(include, list) or not include:
        return []
    fields = ("prompt", *PROMPT_FIELDS)
    known = {*axis_names, *fields}
    others = [
        (index, key)
        for index, entry in enumerate(include)
        for key in (entry if isinstance(entry, Mapping) else ())
        if key not in known
    ]
    if not others:
        return []  # parsing every template costs more than all the other checks
    used = template_variables(data)
    found = []
    for index, key in others:
        if key not in used:
            node: NodePath = ("matrix", "include", index, key)
            guess = did_you_mean(key, [*fields, *sorted(used)])
            suffix = f" (did you mean '{guess}'?)" if guess else ""
            listed = ", ".join(sorted(used)) or "none"
            found.append(
                Diagnostic(
                    f"'{key}' is neither a promptObject field nor used by any template{suffix}",
                    path=format_path(node[:-1]),
                    span=source.span(node, key=True),
                    hint=f"the promptObject fields are {', '.join(PROMPT_FIELDS)}; "
                    f"the templates use: {listed}",
                )
            )
    return found


def template_variables(data: Mapping[str, Any]) -> set[str]:
    """Every variable name the recipe's templates read (templates that do not parse are skipped;
    their syntax errors are reported elsewhere)."""
    from runner.templating.environment import make_template_environment
    from runner.templating.parse import TemplateProblem, parse_template

    env = make_template_environment()
    names: set[str] = set()
    for text in _template_texts(data):
        try:
            names.update(parse_template(env, text).names)
        except TemplateProblem:
            continue
    return names


def _template_texts(data: Mapping[str, Any]) -> Iterator[str]:
    for field in ("image", "prompt", "output"):
        value = data.get(field)
        if isinstance(value, str):
            yield value
    for group in (data.get("defaults"), *_include_entries(data)):
        if isinstance(group, Mapping):
            yield from (value for value in group.values() if isinstance(value, str))


def _include_entries(data: Mapping[str, Any]) -> list[Any]:
    matrix = data.get("matrix")
    include = matrix.get("include") if isinstance(matrix, Mapping) else None
    return include if isinstance(include, list) else []
