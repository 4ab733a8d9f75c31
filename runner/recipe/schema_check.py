"""Check a loaded recipe against the JSON Schema, reporting each problem in plain English."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

from runner.apikey import ENV_KEY, find_key_in_text, redact
from runner.diagnostics import Diagnostic, Span, suggestion_suffix
from runner.pastedtext import char_name, invisible_in, without_invisible, wrapped_in_quotes
from runner.printable import one_line
from runner.recipe.loader import LoadedDocument
from runner.recipe.model import NodePath, SourceMap, format_path
from runner.recipe.yaml_errors import ODD_SPACE_HINT, odd_space_name, odd_space_start

_SECRET_NAMES = frozenset(
    {
        "apikey",
        "apisecret",
        "apitoken",
        "token",
        "accesstoken",
        "authtoken",
        "bearertoken",
        "secret",
        "secretkey",
        "clientsecret",
        "password",
        "passwd",
    }
)
_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true/false",
    "object": "a mapping",
    "array": "a list",
    "null": "an empty value",
}


VERSION_PATH = format_path(("version",))


def recipe_schema() -> dict[str, Any]:
    """The recipe JSON Schema shipped with the package (a fresh copy each call)."""
    schema: dict[str, Any] = json.loads(schema_text())
    return schema


@cache
def schema_text() -> str:
    return (resources.files("runner") / "schemas" / "recipe.schema.json").read_text("utf-8")


@cache
def axis_source_keys() -> frozenset[str]:
    """The keys naming an axis' source ({csv: ...}): the one mapping form that takes exactly one."""
    forms = recipe_schema()["$defs"]["axis"]["oneOf"]
    return frozenset(next(form for form in forms if form.get("maxProperties") == 1)["properties"])


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    return Draft202012Validator(recipe_schema())


def validate(doc: LoadedDocument) -> list[Diagnostic]:
    """Every problem in a loaded recipe, in document order (an empty list when it is valid)."""
    secrets = find_secrets(doc)
    source = doc.source
    if not isinstance(doc.data, dict):
        return secrets or [
            Diagnostic(
                f"a recipe must be a mapping of keys (version, name, image, prompt, output, ...),"
                f" but this file holds {_show(doc.data)}",
                span=source.span(()),
                file=source.file,
            )
        ]
    validator = _validator()
    # Its own copy of the schema, which nothing changes: no need to parse the schema again.
    found = explain_schema_errors(validator.iter_errors(doc.data), source, validator.schema)
    wrong_version = [d for d in found if d.path == VERSION_PATH]
    if wrong_version:
        # Another version has other keys: "missing 'image'" would only mislead.
        found = wrong_version
    if secrets:
        found = [*secrets, *_without_secrets(found, doc)]
    return sorted(found, key=_position)


def explain_schema_errors(
    errors: Iterable[Any], source: SourceMap, schema: Mapping[str, Any]
) -> list[Diagnostic]:
    """jsonschema errors as plain-English diagnostics at their place in the file, without repeats.

    Shared with the other YAML files backdrop reads (review.yaml), so they all read alike.
    """
    found: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for error in errors:
        for diagnostic in _explain(error, source, schema):
            identity = (diagnostic.path, diagnostic.message)
            if identity not in seen:
                seen.add(identity)
                found.append(diagnostic)
    return found


def _without_secrets(found: list[Diagnostic], doc: LoadedDocument) -> list[Diagnostic]:
    """The other problems, minus any that would quote a secret's line, with the key hidden."""
    lines: set[int] = set()
    for path in _secret_keys(doc.data, ()):
        mark = doc.source.keys.get(path)
        value = doc.source.values.get(path)
        for where in (mark, value):
            if where is not None:
                lines.update(range(where[0] + 1, where[2] + 2))
    kept = []
    for diagnostic in found:
        span = diagnostic.span
        if span is not None and span.line in lines:
            continue
        if span is not None:
            span = Span(span.file, span.line, span.col, span.end_col, redact(span.text))
        hint = redact(diagnostic.hint) if diagnostic.hint else None
        kept.append(
            Diagnostic(
                redact(diagnostic.message),
                diagnostic.path,
                span,
                hint,
                diagnostic.severity,
                diagnostic.file,
            )
        )
    return kept


def find_secrets(doc: LoadedDocument) -> list[Diagnostic]:
    """API keys have no place in a recipe: refuse secret-looking keys and the user's own key."""
    source = doc.source
    found: list[Diagnostic] = []
    for path in _secret_keys(doc.data, ()):
        span = source.span(path, key=True)
        if span is not None:
            # Show the key, never the value after it.
            span = Span(span.file, span.line, span.col, span.end_col, span.text[: span.end_col - 1])
        found.append(
            Diagnostic(
                f"a recipe must not hold secrets, but it has a key named '{path[-1]}'",
                path=format_path(path[:-1]),
                span=span,
                hint=f"remove it; backdrop reads the API key from the {ENV_KEY} environment "
                "variable",
                file=source.file,
            )
        )
    in_text = find_key_in_text(
        source.text,
        source.file,
        what="the recipe",
        hint=f"remove it; backdrop reads the key from the {ENV_KEY} environment variable, "
        "so it never needs to be written down",
    )
    if in_text is not None:
        found.append(in_text)
    return found


def _secret_keys(data: Any, path: NodePath) -> Iterator[NodePath]:
    if isinstance(data, dict):
        for key, value in data.items():
            if _is_secret_name(key):
                yield (*path, key)
            else:
                yield from _secret_keys(value, (*path, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _secret_keys(item, (*path, index))


def _is_secret_name(key: str) -> bool:
    name = re.sub(r"[^a-z0-9]", "", key.lower())
    return name in _SECRET_NAMES or name.endswith("apikey")


def _unspaced(key: object) -> object:
    """A key without the full-width (or other odd) spaces a line was indented with (then its
    first character is one of them)."""
    spaced = odd_space_start(key) if isinstance(key, str) else None
    return key if spaced is None else spaced[0]


def _invisible_in(text: str, what: str) -> tuple[str, str]:
    """'quality' written with a soft hyphen or a zero-width space in it: name the character."""
    index = invisible_in(text)
    char = text[index] if index is not None else text[-1]
    bare = without_invisible(text).strip()
    return (
        f"the {what} '{bare}' holds an invisible {char_name(char)}",
        f"retype the {what}: delete it and type it again (text pasted from Word, a web page or a"
        " chat often brings such characters)",
    )


def _at_invisible(span: Span | None, text: str) -> Span | None:
    """The span narrowed to the invisible character, when the text is written as it reads."""
    index = invisible_in(text)
    if span is None or index is None or span.text[span.col - 1 :][: len(text)] != text:
        return span
    col = span.col + index
    return Span(span.file, span.line, col, col + 1, span.text)


def _position(diagnostic: Diagnostic) -> tuple[int, int]:
    span = diagnostic.span
    return (span.line, span.col) if span else (0, 0)


# --- turning jsonschema errors into diagnostics ---------------------------------------------


def _explain(error: Any, source: SourceMap, root: Mapping[str, Any]) -> list[Diagnostic]:
    path: NodePath = tuple(error.absolute_path)
    kind = error.validator
    instance = error.instance
    value: Any = error.validator_value
    schema: Mapping[str, Any] = error.schema

    def at(message: str, hint: str | None = None, *, node: NodePath = path) -> Diagnostic:
        return Diagnostic(message, path=format_path(path), span=source.span(node), hint=hint)

    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        found = []
        for key in instance:
            if key in allowed:
                continue
            suffix = suggestion_suffix(key, allowed)
            hint = None if suffix else f"the keys allowed here are {_words(allowed, 'and')}"
            message = f"unknown key '{key}'{suffix}"
            bare = _unspaced(key)
            if bare != key and bare in allowed:
                message = f"the key '{bare}' is preceded by a {odd_space_name(key[0])}"
                hint = ODD_SPACE_HINT
            span = source.span((*path, key), key=True)
            if bare == key and without_invisible(key).strip() in allowed:
                message, hint = _invisible_in(key, "key")
                span = _at_invisible(span, key)
            elif wrapped_in_quotes(key) and key[1:-1].strip() in allowed:
                message = (
                    f"{key[0]} and {key[-1]} are not quotes in YAML: this key is '{key}', not "
                    f"'{key[1:-1].strip()}'"
                )
                hint = "remove them: a key needs no quotes"
            found.append(Diagnostic(message, path=format_path(path), span=span, hint=hint))
        return found
    if kind == "required" and isinstance(instance, dict):
        properties = schema.get("properties", {})
        found = []
        # A key behind a full-width space was said already: it is there, only mistyped.
        present = {_unspaced(k) for k in instance}
        for key in value:
            if key not in instance and key not in present:
                described = _description(properties.get(key), root)
                hint = f"add the line '{key}: ...'" + (f" ({described})" if described else "")
                found.append(at(f"missing required key '{key}'", hint))
        return found
    if kind in ("anyOf", "oneOf"):
        return _explain_alternatives(error, source, root)
    if kind == "enum":
        if _is_text(instance) and without_invisible(instance).strip() in value:
            message, hint = _invisible_in(instance, "value")
            span = _at_invisible(source.span(path), instance)
            return [Diagnostic(message, path=format_path(path), span=span, hint=hint)]
        suffix = suggestion_suffix(instance, [str(v) for v in value]) if _is_text(instance) else ""
        return [at(f"{_show(instance)} is not one of {_words(value, ',')}{suffix}")]
    if kind == "const":
        if path == ("version",):
            return [at(f"{_show(instance)} is not a recipe version backdrop reads; use {value}")]
        return [at(f"{_show(instance)} must be {_show(value)}")]
    if kind == "type":
        return [at(f"expected {_type_words(value)}, got {_show(instance)}")]
    if kind == "minimum":
        return [at(f"{instance} is less than the minimum of {value}")]
    if kind == "maximum":
        return [at(f"{instance} is more than the maximum of {value}")]
    if kind == "exclusiveMinimum":
        return [at(f"{instance} is too low: it must be above {value}")]
    if kind == "exclusiveMaximum":
        return [at(f"{instance} is too high: it must be below {value}")]
    if kind == "minLength":
        return [at("must not be empty")]
    if kind == "maxLength":
        return [at(f"is longer than {value} characters")]
    if kind == "minItems":
        return [at("the list is empty; give at least one value")]
    if kind in ("minProperties", "maxProperties"):
        choices = list(schema.get("properties", {}))
        return [at(f"give exactly one of {_words(choices, 'or')}")]
    if kind == "pattern":
        if path == ("name",):
            return [
                at(
                    f"{_show(instance)} is not a safe folder name",
                    "use letters, digits, '.', '-' and '_', starting with a letter or digit",
                )
            ]
        hint = _description(schema, root)
        return [at(f"{_show(instance)} does not have the expected form", hint)]
    return [at(f"{_show(instance)} is not allowed here", _description(schema, root))]


def _explain_alternatives(
    error: Any, source: SourceMap, root: Mapping[str, Any]
) -> list[Diagnostic]:
    """Pick the alternative the author most likely meant and explain why it did not fit."""
    branches = [_resolve(branch, root) for branch in error.validator_value]
    here = list(error.absolute_path)
    by_branch: dict[int, list[Any]] = {}
    for sub in error.context or ():
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    # An alternative whose type does not fit the value was clearly not meant.
    candidates = [
        index
        for index in range(len(branches))
        if not any(
            sub.validator == "type" and list(sub.absolute_path) == here
            for sub in by_branch.get(index, ())
        )
    ]
    meant = [index for index in candidates if not _is_template(branches[index])]
    if isinstance(error.instance, dict):
        # Among mappings, the one that declares every key written ({xlsx, sheet}) was meant.
        keys = set(error.instance)
        covering = [i for i in meant if keys <= set(branches[i].get("properties", {}))]
        meant = covering + [i for i in meant if i not in covering]
    if meant:
        found: list[Diagnostic] = []
        for sub in by_branch.get(meant[0], ()):
            found.extend(_explain(sub, source, root))
        if found:
            return found
    # One mapping form is enough to say: {xlsx, sheet} is a variant of {xlsx}.
    mappings = [i for i, branch in enumerate(branches) if branch.get("type") == "object"]
    options = [_describe(b) for i, b in enumerate(branches) if i not in mappings[1:]]
    path: NodePath = tuple(error.absolute_path)
    return [
        Diagnostic(
            f"expected {_words(options, 'or')}, got {_show(error.instance)}",
            path=format_path(path),
            span=source.span(path),
        )
    ]


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: Mapping[str, Any] = root["$defs"][ref.removeprefix("#/$defs/")]
        return resolved
    return schema


def _is_template(schema: Mapping[str, Any]) -> bool:
    return "{{" in str(schema.get("pattern", "")).replace("\\", "")


def _describe(schema: Mapping[str, Any]) -> str:
    if _is_template(schema):
        return 'a template such as "{{ row.value }}"'
    if "enum" in schema:
        return f"one of {_words(schema['enum'], ',')}"
    kind = schema.get("type")
    if kind == "integer" and "minimum" in schema and "maximum" in schema:
        return f"a whole number from {schema['minimum']} to {schema['maximum']}"
    if kind == "array":
        return "a list of values"
    if kind == "object" and schema.get("properties"):
        return f"a mapping with one of {_words(list(schema['properties']), 'or')}"
    return _type_words(kind) if kind else "a different value"


def _description(schema: Mapping[str, Any] | None, root: Mapping[str, Any]) -> str | None:
    if not schema:
        return None
    described = schema.get("description") or _resolve(schema, root).get("description")
    return str(described) if described else None


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _show(value: Any) -> str:
    """A value as the author wrote it, quoted when it is text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "an empty value"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"'{one_line(shown)}'"  # a newline in the value would split the message
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _type_words(kind: Any) -> str:
    kinds = kind if isinstance(kind, list) else [kind]
    return _words([_TYPE_WORDS.get(str(k), str(k)) for k in kinds], "or")


def _words(items: Any, conjunction: str) -> str:
    """["a", "b", "c"] -> "a, b, c" (","), or "a, b or c" ("or"/"and")."""
    words = [str(item) for item in items]
    if conjunction == "," or len(words) < 2:
        return ", ".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"
