"""The recipe schema and the diagnostics validation produces from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from runner.api import limits
from runner.diagnostics import Diagnostic
from runner.recipe.loader import load_yaml, load_yaml_file
from runner.recipe.schema_check import recipe_schema, validate

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "recipes"

VALID = """\
version: 1
name: spring
defaults:
  size: 1536x1024
  quality: medium
  n: 2
  output_format: webp
  output_compression: 85
matrix:
  season: [spring, summer]
image: images/mug.png
prompt: "a ceramic mug in {{ season }}"
output: "mug-{{ season }}"
"""


def check(text: str, file: str = "r.yaml") -> list[Diagnostic]:
    return validate(load_yaml(text, file))


def rendered(text: str) -> list[str]:
    return [d.render() for d in check(text)]


# --- the schema itself ---------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12() -> None:
    schema = recipe_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://backdrop.dev/schemas/recipe.schema.json"


def _properties(schema: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(schema, dict):
        for name, sub in (schema.get("properties") or {}).items():
            yield f"{where}.{name}", sub
        for key, sub in schema.items():
            yield from _properties(sub, f"{where}/{key}")
    elif isinstance(schema, list):
        for index, sub in enumerate(schema):
            yield from _properties(sub, f"{where}[{index}]")


def test_every_property_has_a_title_and_description_for_editors() -> None:
    properties = list(_properties(recipe_schema()))
    assert len(properties) > 25
    missing = [where for where, sub in properties if not sub.get("title")]
    missing += [where for where, sub in properties if not sub.get("description")]
    assert missing == []


def test_schema_limits_agree_with_the_api_limits() -> None:
    fields = recipe_schema()["properties"]["defaults"]["properties"]
    assert set(fields) == set(limits.PROMPT_FIELDS)

    def literal(name: str) -> dict[str, Any]:
        [branch] = [b for b in fields[name]["anyOf"] if "$ref" not in b]
        return dict(branch)

    assert literal("size")["enum"] == list(limits.SIZES)
    assert literal("quality")["enum"] == list(limits.QUALITIES)
    assert literal("output_format")["enum"] == list(limits.OUTPUT_FORMATS)
    n = literal("n")
    assert (n["type"], n["minimum"], n["maximum"]) == ("integer", *limits.N_RANGE)
    compression = literal("output_compression")
    assert (compression["minimum"], compression["maximum"]) == limits.COMPRESSION_RANGE
    prices = recipe_schema()["$defs"]["priceByQuality"]["properties"]
    assert list(prices) == list(limits.QUALITIES)


def test_example_recipes_validate() -> None:
    for path in [ROOT / "recipes" / "spring-campaign.yaml", FIXTURES / "spring-typo.yaml"]:
        doc = load_yaml_file(path)
        if path.name == "spring-typo.yaml":
            assert len(validate(doc)) == 1
        else:
            assert validate(doc) == []
    assert check(VALID) == []


def test_templates_are_accepted_for_every_prompt_field() -> None:
    text = VALID.replace("quality: medium", 'quality: "{{ season.q }}"').replace(
        "n: 2", 'n: "{{ row.n }}"'
    )
    assert check(text) == []


# --- diagnostics ---------------------------------------------------------------------------


def test_enum_typo_renders_exactly_as_documented() -> None:
    doc = load_yaml_file(FIXTURES / "spring-typo.yaml", "recipes/spring.yaml")
    assert [d.render() for d in validate(doc)] == [
        "recipes/spring.yaml:9:12: error: defaults.quality: 'hgih' is not one of low, medium, "
        "high (did you mean 'high'?)\n"
        "    9 |   quality: hgih\n"
        "      |            ^^^^"
    ]


@pytest.mark.parametrize(
    ("space", "name"),
    [("\u3000", "full-width space (U+3000)"), ("\u00a0", "non-breaking space (U+00A0)")],
)
def test_a_top_level_key_behind_an_odd_space_is_named_once(space: str, name: str) -> None:
    # A Japanese input method types U+3000: YAML takes it into the key ("\u3000prompt"), so the
    # recipe looked both to miss 'prompt' and to have an unknown key.
    assert rendered(VALID.replace("prompt:", f"{space}prompt:")) == [
        f"r.yaml:12:1: error: the key 'prompt' is preceded by a {name}\n"
        # The snippet writes the invisible character out, so that the caret shows it.
        f'    12 | \\u{ord(space):04x}prompt: "a ceramic mug in {{{{ season }}}}"\n'
        "       | ^^^^^^^^^^^^\n"
        "    hint: retype the start of that line with ordinary spaces (this character often comes"
        " with text pasted from Word, a web page or a chat)"
    ]


def test_unknown_key_points_at_the_key_with_a_suggestion() -> None:
    assert rendered(VALID.replace("prompt:", "promt:")) == [
        "r.yaml:1:1: error: missing required key 'prompt'\n"
        "    1 | version: 1\n"
        "      | ^^^^^^^^^^\n"
        "    hint: add the line 'prompt: ...' (Template for the text describing the new background "
        "(1 to 4000 characters once rendered).)",
        "r.yaml:12:1: error: unknown key 'promt' (did you mean 'prompt'?)\n"
        '    12 | promt: "a ceramic mug in {{ season }}"\n'
        "       | ^^^^^",
    ]


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    [diagnostic] = check(VALID.replace("  n: 2\n", "  colour: red\n"))
    assert diagnostic.headline() == "r.yaml:6:3: error: defaults: unknown key 'colour'"
    assert diagnostic.hint == (
        "the keys allowed here are size, quality, n, output_format and output_compression"
    )


@pytest.mark.parametrize(
    ("old", "new", "headline"),
    [
        (
            "n: 2",
            "n: abc",
            "r.yaml:6:6: error: defaults.n: expected a whole number from 1 to 10 or a template "
            "such as \"{{ row.value }}\", got 'abc'",
        ),
        ("n: 2", "n: 11", "r.yaml:6:6: error: defaults.n: 11 is more than the maximum of 10"),
        (
            "output_compression: 85",
            "output_compression: -1",
            "r.yaml:8:23: error: defaults.output_compression: -1 is less than the minimum of 0",
        ),
        (
            "size: 1536x1024",
            "size: 1536x1536",
            "r.yaml:4:9: error: defaults.size: '1536x1536' is not one of 1024x1024, 1024x1536, "
            "1536x1024 (did you mean '1536x1024'?)",
        ),
        (
            "quality: medium",
            "quality: 3",
            "r.yaml:5:12: error: defaults.quality: 3 is not one of low, medium, high",
        ),
        ("image: images/mug.png", "image: 3", "r.yaml:11:8: error: image: expected text, got 3"),
        (
            "name: spring",
            "name: my campaign",
            "r.yaml:2:7: error: name: 'my campaign' is not a safe folder name",
        ),
        (
            "name: spring",
            "name: ../up",
            "r.yaml:2:7: error: name: '../up' is not a safe folder name",
        ),
        (
            "version: 1",
            "version: 2",
            "r.yaml:1:10: error: version: 2 is not a recipe version backdrop reads; use 1",
        ),
        (
            "season: [spring, summer]",
            "season: spring",
            "r.yaml:10:11: error: matrix.season: expected a list of values or a mapping with one "
            "of csv, yaml, glob or xlsx, got 'spring'",
        ),
        (
            "season: [spring, summer]",
            "season: []",
            "r.yaml:10:11: error: matrix.season: the list is empty; give at least one value",
        ),
        (
            "season: [spring, summer]",
            "season: { csvv: seasons.csv }",
            "r.yaml:10:13: error: matrix.season: unknown key 'csvv' (did you mean 'csv'?)",
        ),
        (
            "season: [spring, summer]",
            "season: { csv: a.csv, glob: '*.png' }",
            "r.yaml:10:11: error: matrix.season: give exactly one of csv, yaml, glob or xlsx",
        ),
        (
            "season: [spring, summer]",
            "season: [spring, [summer]]",
            "r.yaml:10:20: error: matrix.season[1]: expected text, a number, true/false or a "
            "mapping, got a list",
        ),
        (
            "season: [spring, summer]",
            "season: [spring]\n  include: { season: autumn }",
            "r.yaml:11:12: error: matrix.include: expected a list, got a mapping",
        ),
        (
            "season: [spring, summer]",
            "season: [spring]\n  exclude: [spring]",
            "r.yaml:11:13: error: matrix.exclude[0]: expected a mapping, got 'spring'",
        ),
        (
            'output: "mug-{{ season }}"',
            'output: ""',
            "r.yaml:13:9: error: output: must not be empty",
        ),
    ],
)
def test_schema_errors_are_plain_english(old: str, new: str, headline: str) -> None:
    assert old in VALID
    assert [d.headline() for d in check(VALID.replace(old, new))] == [headline]


def test_optional_sections_are_checked() -> None:
    text = VALID + (
        "prices:\n  square: { low: -1, ultra: 2 }\n"
        "report: { rows: season, cols: season }\n"
        "max_jobs: 0\n"
        "vars: [1]\n"
    )
    assert [d.headline() for d in check(text)] == [
        "r.yaml:15:18: error: prices.square.low: -1 is less than the minimum of 0",
        "r.yaml:15:22: error: prices.square: unknown key 'ultra'",
        "r.yaml:16:25: error: report: unknown key 'cols' (did you mean 'columns'?)",
        "r.yaml:17:11: error: max_jobs: 0 is less than the minimum of 1",
        "r.yaml:18:7: error: vars: expected a mapping, got a list",
    ]


def test_every_problem_is_reported_at_once() -> None:
    doc = load_yaml_file(FIXTURES / "many-problems.yaml", "many.yaml")
    assert [d.headline() for d in validate(doc)] == [
        "many.yaml:1:1: error: missing required key 'prompt'",
        "many.yaml:2:7: error: name: 'many problems' is not a safe folder name",
        "many.yaml:4:12: error: defaults.quality: 'hgih' is not one of low, medium, high "
        "(did you mean 'high'?)",
        "many.yaml:5:6: error: defaults.n: 11 is more than the maximum of 10",
        "many.yaml:6:3: error: defaults: unknown key 'qualty' (did you mean 'quality'?)",
        "many.yaml:8:11: error: matrix.season: expected a list of values or a mapping with one "
        "of csv, yaml, glob or xlsx, got 'spring'",
        "many.yaml:9:13: error: matrix.market: unknown key 'csvv' (did you mean 'csv'?)",
        "many.yaml:11:1: error: unknown key 'promt' (did you mean 'prompt'?)",
    ]


def test_an_unsupported_version_is_the_only_problem_reported() -> None:
    # A recipe of another version has other keys: no "missing required key 'image'" after it.
    assert [d.headline() for d in check("version: 2\nname: x\n")] == [
        "r.yaml:1:10: error: version: 2 is not a recipe version backdrop reads; use 1"
    ]


def test_an_unsupported_version_skips_the_template_and_name_checks_too(tmp_path: Path) -> None:
    from runner.diagnostics import RecipeError
    from runner.recipe.build import load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text('version: 2\nname: x\nimage: a.png\nprompt: "{{ nope }"\noutput: x\n')
    with pytest.raises(RecipeError) as caught:
        load_recipe(recipe)
    assert [d.message for d in caught.value.diagnostics()] == [
        "2 is not a recipe version backdrop reads; use 1"
    ]


def test_a_recipe_must_be_a_mapping() -> None:
    [diagnostic] = check("- version: 1\n- name: x\n")
    assert diagnostic.headline() == (
        "r.yaml:1:1: error: a recipe must be a mapping of keys (version, name, image, prompt, "
        "output, ...), but this file holds a list"
    )


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["api_key", "apiKey", "api-key", "API-KEY", "ONEMIN_API_KEY", "token", "Secret", "password"],
)
def test_secret_keys_are_refused_anywhere_without_echoing_the_value(key: str) -> None:
    text = VALID + f"vars:\n  brand: Acme\n  nested:\n    - {{ {key}: hunter2-top-secret }}\n"
    [diagnostic] = check(text)
    assert diagnostic.message == f"a recipe must not hold secrets, but it has a key named '{key}'"
    assert diagnostic.path == "vars.nested[0]"
    assert diagnostic.hint is not None and "ONEMIN_API_KEY environment variable" in diagnostic.hint
    assert diagnostic.span is not None and diagnostic.span.line == 17
    assert "hunter2" not in diagnostic.render()
    assert "hunter2" not in json.dumps(diagnostic.to_json())


def test_secret_key_at_the_top_level_is_refused_instead_of_an_unknown_key() -> None:
    [diagnostic] = check(VALID + "api_key: sk-abcdef123456\n")
    assert diagnostic.render() == (
        "r.yaml:14:1: error: a recipe must not hold secrets, but it has a key named 'api_key'\n"
        "    14 | api_key\n"
        "       | ^^^^^^^\n"
        "    hint: remove it; backdrop reads the API key from the ONEMIN_API_KEY environment "
        "variable"
    )


def test_keys_that_merely_contain_secret_words_are_fine() -> None:
    assert check(VALID + "vars:\n  secret_sauce: basil\n  tokenizer: words\n") == []


def test_the_users_own_api_key_in_the_text_is_refused_and_not_echoed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ONEMIN_API_KEY", "mk-0123456789abcdef")
    text = VALID.replace("a ceramic mug in", "mk-0123456789abcdef a ceramic mug in")
    [diagnostic] = check(text)
    assert diagnostic.render() == (
        "r.yaml:12:10: error: the recipe contains your API key (the value of ONEMIN_API_KEY)\n"
        '    12 | prompt: "******** a ceramic mug in {{ season }}"\n'
        "       |          ^^^^^^^^\n"
        "    hint: remove it; backdrop reads the key from the ONEMIN_API_KEY environment "
        "variable, so it never needs to be written down"
    )


def test_a_short_api_key_value_is_not_matched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEMIN_API_KEY", "mug")
    assert check(VALID) == []
