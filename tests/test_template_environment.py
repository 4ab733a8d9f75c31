"""One template environment for every pass: each filter, test and global works in all of them.

The static pass (beside schema errors) once built its own bare Jinja environment, so a recipe
using `| slug` with a typo elsewhere crashed with "No filter named 'slug'" (exit 70). These
tests drive the CLI with a recipe that uses every filter, test and global the environment
offers, in both the static pass and rendering.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.templating.environment import make_template_environment
from tests.clihelp import run_cli
from tests.plan_support import png_bytes

# One use of each filter; the tables must list exactly what the environment offers, so that a
# filter added later is tested here too.
FILTERS = {
    "abs": "(-3)|abs",
    "attr": "season|attr('upper')",
    "batch": "[1, 2, 3]|batch(2)|list",
    "capitalize": "season|capitalize",
    "center": "season|center(12)",
    "count": "[1, 2]|count",
    "d": "''|d('x', true)",
    "default": "''|default('x', true)",
    "dictsort": "{'b': 1, 'a': 2}|dictsort",
    "e": "season|e",
    "escape": "season|escape",
    "filesizeformat": "1000|filesizeformat",
    "first": "[1, 2]|first",
    "float": "'1.5'|float",
    "forceescape": "season|forceescape",
    "format": "'%s-%s'|format(season, 1)",
    "groupby": "[product]|groupby('sku')|list",
    "indent": "'a\\nb'|indent(2)",
    "int": "'2'|int",
    "items": "product|items|list",
    "join": "[season, brand]|join('-')",
    "last": "[1, 2]|last",
    "length": "season|length",
    "list": "season|list",
    "lower": "season|lower",
    "map": "[season]|map('upper')|list",
    "max": "[1, 2]|max",
    "min": "[1, 2]|min",
    "pprint": "product|pprint",
    "reject": "[1, 2]|reject('odd')|list",
    "rejectattr": "[product]|rejectattr('sku', 'none')|list",
    "replace": "season|replace('s', 'S')",
    "reverse": "season|reverse",
    "round": "1.5|round",
    "safe": "season|safe",
    "select": "[1, 2]|select('odd')|list",
    "selectattr": "[product]|selectattr('sku')|list",
    "slice": "[1, 2, 3]|slice(2)|list",
    "slug": "product.name|slug",
    "sort": "[2, 1]|sort",
    "string": "1|string",
    "striptags": "'<b>x</b>'|striptags",
    "sum": "[1, 2]|sum",
    "title": "season|title",
    "tojson": "product|tojson",
    "trim": "' x '|trim",
    "truncate": "'long text here'|truncate(9)",
    "unique": "[1, 1]|unique|list",
    "upper": "season|upper",
    "urlencode": "season|urlencode",
    "urlize": "'see https://example.org'|urlize",
    "wordcount": "brand|wordcount",
    "wordwrap": "brand|wordwrap(5)",
    "xmlattr": "{'a': 'b'}|xmlattr",
}
# Each test through select(), which is how the symbol-named ones ('==', '<') are used.
TESTS = {
    "!=": "[1]|select('!=', 2)",
    "<": "[1]|select('<', 2)",
    "<=": "[1]|select('<=', 2)",
    "==": "[1]|select('==', 1)",
    ">": "[1]|select('>', 0)",
    ">=": "[1]|select('>=', 1)",
    "boolean": "[true]|select('boolean')",
    "callable": "[season]|select('callable')",
    "defined": "[season]|select('defined')",
    "divisibleby": "[4]|select('divisibleby', 2)",
    "eq": "[1]|select('eq', 1)",
    "equalto": "[1]|select('equalto', 1)",
    "escaped": "[season]|select('escaped')",
    "even": "[2]|select('even')",
    "false": "[false]|select('false')",
    "filter": "['upper']|select('filter')",
    "float": "[1.5]|select('float')",
    "ge": "[1]|select('ge', 1)",
    "greaterthan": "[1]|select('greaterthan', 0)",
    "gt": "[1]|select('gt', 0)",
    "in": "[1]|select('in', [1])",
    "integer": "[1]|select('integer')",
    "iterable": "[season]|select('iterable')",
    "le": "[1]|select('le', 1)",
    "lessthan": "[1]|select('lessthan', 2)",
    "lower": "[season]|select('lower')",
    "lt": "[1]|select('lt', 2)",
    "mapping": "[product]|select('mapping')",
    "ne": "[1]|select('ne', 2)",
    "none": "[none]|select('none')",
    "number": "[1]|select('number')",
    "odd": "[1]|select('odd')",
    "sameas": "[none]|select('sameas', none)",
    "sequence": "[season]|select('sequence')",
    "string": "[season]|select('string')",
    "test": "['odd']|select('test')",
    "true": "[true]|select('true')",
    "undefined": "[season]|select('undefined')",
    "upper": "[brand]|select('upper')",
}
GLOBALS = {
    "range": "range(3)|list",
    "dict": "dict(a=1)",
    "namespace": "namespace(a=1).a",
}
SCHEMA_ERRORS = {
    "misspelled key": ("prompt: ", "promt: ", "unknown key 'promt' (did you mean 'prompt'?)"),
    "wrong quality": ("quality: medium", "quality: hgih", "'hgih' is not one of"),
    "size as a product": ("size: 1024x1024", "size: 1024*1024", "'1024*1024' is not one of"),
    "n above 10": ("n: 1", "n: 11", "11 is"),
}


def test_the_tables_cover_every_filter_test_and_global():
    env = make_template_environment()
    assert set(FILTERS) == set(env.filters)
    assert set(TESTS) == set(env.tests)
    assert set(GLOBALS) == set(env.globals)


def _uses() -> str:
    """A prompt that uses everything, each in a {% set %} so that the prompt stays short."""
    expressions = [*FILTERS.values(), *(f"{t}|list" for t in TESTS.values()), *GLOBALS.values()]
    sets = "".join(f"{{% set v{i} = {expr} %}}" for i, expr in enumerate(expressions))
    return sets + "{{ product.name }} in {{ season }}"


def _recipe(folder: Path) -> Path:
    (folder / "mug.png").write_bytes(png_bytes())
    prompt = json.dumps(_uses())  # a JSON string is a YAML double-quoted scalar
    text = (
        "version: 1\n"
        "name: every-filter\n"
        "defaults:\n"
        "  size: 1024x1024\n"
        "  quality: medium\n"
        "  n: 1\n"
        "vars:\n"
        "  brand: Acme Home\n"
        "matrix:\n"
        "  product:\n"
        "    - { sku: MUG-01, name: Ceramic Mug }\n"
        "  season: [spring]\n"
        "image: mug.png\n"
        f"prompt: {prompt}\n"
        'output: "{{ product.name | slug }}-{{ season }}"\n'
    )
    path = folder / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return _recipe(tmp_path)


def test_rendering_accepts_every_filter_test_and_global(recipe, capsys):
    result = run_cli(capsys, "plan", "--json", "recipe.yaml")
    assert result.code == 0, result.err
    [job] = json.loads(result.out)["jobs"]
    assert job["prompt_object"]["prompt"] == "Ceramic Mug in spring"
    assert job["outputs"] == ["ceramic-mug-spring.png"]


@pytest.mark.parametrize("case", SCHEMA_ERRORS.values(), ids=SCHEMA_ERRORS.keys())
def test_a_schema_error_beside_every_filter_is_exit_2_not_an_internal_error(recipe, capsys, case):
    old, new, expected = case
    text = recipe.read_text("utf-8")
    assert old in text
    recipe.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = run_cli(capsys, "validate", "--format", "json", "recipe.yaml")
    assert result.code == 2, result.err
    assert "internal error" not in result.err
    [entry] = json.loads(result.out)
    messages = [(d["path"], d["message"]) for d in entry["diagnostics"]]
    assert [m for _, m in messages if expected in m], messages
    # Nothing about templates: the static pass accepted every filter, test and global.
    assert not [m for p, m in messages if p in ("prompt", "output")], messages


def test_the_static_pass_names_an_unknown_filter_with_a_suggestion(recipe, capsys):
    text = recipe.read_text("utf-8").replace("quality: medium", "quality: hgih")
    recipe.write_text(text.replace("| slug }}", "| slgu }}"), encoding="utf-8")
    result = run_cli(capsys, "validate", "recipe.yaml")
    assert result.code == 2
    assert "'hgih' is not one of low, medium, high" in result.err
    assert (
        "recipe.yaml:15:9: error: output: template syntax error: "
        "there is no filter named 'slgu' (did you mean 'slug'?)"
    ) in result.err


def test_the_static_pass_does_not_fold_huge_constants(recipe, capsys):
    # Jinja folds constant expressions while compiling; unguarded, this took 12 s and 3 GB.
    text = recipe.read_text("utf-8").replace("quality: medium", "quality: hgih")
    text = text.replace('output: "{{', "output: \"{{ 'a' * 10**9 }}{{", 1)
    recipe.write_text(text, encoding="utf-8")
    result = run_cli(capsys, "validate", "--format", "json", "recipe.yaml")
    assert result.code == 2, result.err
    [entry] = json.loads(result.out)
    assert [d["path"] for d in entry["diagnostics"]] == ["defaults.quality"]


def test_slug_keeps_japanese_names_in_output_paths(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kyusu.png").write_bytes(png_bytes())
    (tmp_path / "recipe.yaml").write_text(
        "version: 1\nname: ja\nmatrix:\n  product:\n"
        "    - { sku: K-1, name: 南部鉄器の急須, image: kyusu.png }\n"
        "    - { sku: K-2, name: 有田焼の湯呑, image: kyusu.png }\n"
        "image: '{{ product.image }}'\nprompt: '{{ product.name }}'\n"
        "output: '{{ product.name | slug }}'\n",
        encoding="utf-8",
    )
    result = run_cli(capsys, "plan", "--json", "recipe.yaml")
    assert result.code == 0, result.err
    outputs = [job["outputs"] for job in json.loads(result.out)["jobs"]]
    assert outputs == [["南部鉄器の急須.png"], ["有田焼の湯呑.png"]]
