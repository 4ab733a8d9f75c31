"""A recipe's schema check decides "valid" without jsonschema (runner.recipe.schema_check's
_conforms), and must decide exactly as jsonschema does: jsonschema, ~90 ms of CPU to import, is
loaded only to explain a recipe that is not valid."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from runner.diagnostics import BackdropError
from runner.recipe import schema_check
from runner.recipe.loader import load_yaml
from runner.recipe.schema_check import recipe_schema

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "recipes"
# Values put in place of each key's, and of each key's below it: every type, numbers at and
# past the bounds, whole numbers written as 1.0 (an integer to jsonschema) and true (not one),
# the patterns' edges, and the axis forms.
REPLACEMENTS: list[Any] = [
    *(1, 1.0, 2.5, True, False, None, 0, -1, 10, 11, 100_000, 100_001, 10**6),
    *("", "x", "1", "{{ 3 }}", "1024x1024", "1024x1025", "0x5", "high", "hgih", "webp", "gif"),
    *("#ffffff", "#fff", "instagram", "A b", [], [1], ["a", "b"], {}, {"a": 1}),
    *({"csv": "a.csv"}, {"csv": "a.csv", "yaml": "b"}, {"xlsx": "a.xlsx", "sheet": "S"}),
    *({"xlsx": "a.xlsx"}, {"glob": "*.png"}, [{"sku": "a"}], [{"quality": "low"}]),
]


def _documents() -> Iterator[Any]:
    from tests.schema_fuzz import Knobs, draw_schema_case

    # Recipes of every shape the schema allows, kept small: jsonschema takes ~0.5 ms a document.
    small = Knobs(jobs=4, loop=3, entries=3, vars=3, depth=2, text=20, rows=3)
    texts = [draw_schema_case(seed, small).recipe for seed in range(6)]
    texts += [path.read_text("utf-8") for path in sorted(ROOT.glob("recipes/*.yaml"))]
    texts += [path.read_text("utf-8") for path in sorted(FIXTURES.glob("*.yaml"))]
    places = 0  # each key, and each key below one, gets the next six replacements
    for text in texts:
        try:
            data = load_yaml(text, "r.yaml").data
        except BackdropError:
            continue
        if not isinstance(data, dict):
            continue
        yield data
        for key, value in data.items():
            places += 1
            yield from ({**data, key: new} for new in _six(places))
            for inner in value if isinstance(value, dict) else ():
                places += 1
                yield from ({**data, key: {**value, inner: new}} for new in _six(places))


def _six(place: int) -> list[Any]:
    return [REPLACEMENTS[(place * 6 + offset) % len(REPLACEMENTS)] for offset in range(6)]


def test_the_quick_check_decides_as_jsonschema_does() -> None:
    schema = recipe_schema()
    validator = Draft202012Validator(schema)
    seen: Counter[str] = Counter()
    for data in _documents():
        expected = validator.is_valid(data)
        try:
            quick = schema_check._conforms(data, schema, schema)
        except schema_check._Unsure:
            seen["unsure"] += 1
            assert not schema_check._conforms_quickly(data)  # then jsonschema decides
            continue
        assert quick == expected, data
        seen["valid" if expected else "invalid"] += 1
    # Both answers, many times: the drawn recipes and the examples are mostly valid, and most
    # replacements make them invalid in one place.
    assert seen["valid"] > 100 and seen["invalid"] > 500, seen


def test_a_valid_recipe_is_checked_without_importing_jsonschema() -> None:
    recipe = ROOT / "recipes" / "spring-campaign.yaml"
    code = (
        "import sys\n"
        "from runner.recipe.build import load_recipe\n"
        f"load_recipe(__import__('pathlib').Path({str(recipe)!r}))\n"
        "print('jsonschema' in sys.modules)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert shown.stdout.strip() == "False", shown.stderr


# Each keyword the recipe schema uses, at its edges: JSON's types against Python's (True is not
# 1, 1.0 is an integer), bounds, lengths, patterns searched (not matched), one branch of oneOf.
INSTANCES: list[Any] = [
    *(None, True, False, 0, 1, -1, 1.0, 1.5, 10, 11, "", "a", "ab", "1024x1024", "x1"),
    *([], [1], [1, "a"], {}, {"a": 1}, {"a": 1, "b": 2}, {"b": "x"}),
]
KEYWORD_SCHEMAS: list[dict[str, Any]] = [
    *({"type": kind} for kind in ("null", "boolean", "integer", "number", "string", "array")),
    {"type": "object"},
    {"type": ["string", "null"]},
    {"enum": ["a", 1, None]},
    {"enum": [True]},
    {"const": 1},
    {"const": False},
    {"minimum": 1},
    {"maximum": 10},
    {"exclusiveMinimum": 0},
    {"minLength": 1},
    {"maxLength": 1},
    {"pattern": "^[1-9][0-9]*x"},
    {"pattern": "b"},
    {"minItems": 1},
    {"items": {"type": "integer"}},
    {"properties": {"a": {"type": "string"}}},
    {"required": ["a"]},
    {"properties": {"a": {}}, "additionalProperties": False},
    {"additionalProperties": {"type": "integer"}},
    {"propertyNames": {"pattern": "^a"}},
    {"minProperties": 1},
    {"maxProperties": 1},
    {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    {"oneOf": [{"type": "integer"}, {"type": "number"}]},
    {"oneOf": [{"minimum": 1}, {"type": "string"}]},
    {"$ref": "#/$defs/n", "$defs": {"n": {"type": "integer", "minimum": 1}}, "title": "t"},
]


def test_each_keyword_is_decided_as_jsonschema_decides_it() -> None:
    for schema in KEYWORD_SCHEMAS:
        validator = Draft202012Validator(schema)
        for instance in INSTANCES:
            try:
                quick = schema_check._conforms(instance, schema, schema)
            except schema_check._Unsure:
                continue  # jsonschema decides (an enum compared with a list or mapping)
            assert quick == validator.is_valid(instance), (schema, instance)
