"""Templates that used to end in an internal error (exit 70) are diagnostics with a location."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clihelp import run_cli
from tests.plan_support import png_bytes


def write_recipe(folder: Path, second_line: str, *, quality: str = "medium") -> None:
    """A recipe whose prompt is a block scalar: `second_line` is line 2 of the template."""
    (folder / "mug.png").write_bytes(png_bytes())
    text = (
        "version: 1\n"
        "name: failures\n"
        "defaults:\n"
        f"  quality: {quality}\n"
        "matrix:\n"
        "  season: [spring]\n"
        "image: mug.png\n"
        "prompt: |\n"
        "  a mug in {{ season }},\n"
        f"  {second_line}\n"
        "output: mug-{{ season }}\n"
    )
    (folder / "recipe.yaml").write_text(text, encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{{ season|truncate(-1) }}", "the filter 'truncate' failed: expected length >= 3, got -1"),
        ("{{ 1|wordwrap }}", "the filter 'wordwrap' failed: 'int' object has no attribute"),
        ("{{ (1, 2)|dictsort }}", "the filter 'dictsort' failed: 'tuple' object has no attribute"),
        ("{{ 'x'|xmlattr }}", "the filter 'xmlattr' failed: 'str' object has no attribute"),
        ("{{ [1]|select('divisibleby', 0)|list }}", "the test 'divisibleby' failed:"),
        ("{{ (-1)[999] ~ 'x' }}", "this value (-1) has no field 999"),
        ("{{ season|truncate(length=3, length=4) }}", "the argument 'length' is given twice"),
        ("{{ dict(a=1, a=2) }}", "the argument 'a' is given twice"),
        ("{% macro m(a, a) %}{% endmacro %}", "the argument 'a' is named twice"),
        ('{{ "\\ud800" }}', "the template makes text with an invalid character (U+D800"),
    ],
)
def test_a_failing_expression_is_a_template_diagnostic_on_its_line(folder, capsys, line, message):
    write_recipe(folder, line)
    result = run_cli(capsys, "plan", "recipe.yaml")
    assert result.code == 2, result.err
    assert "internal error" not in result.err
    assert result.err.startswith("recipe.yaml:10:3: error: prompt: "), result.err
    assert message in result.err


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("{{ (-1)[999] ~ 'x' }}", False),  # Jinja's optimizer would run this while compiling
        ("{{ season|truncate(length=3, length=4) }}", True),  # found without rendering
        ("{% macro m(a, a) %}{% endmacro %}", True),
    ],
)
def test_the_static_pass_beside_a_schema_error_never_crashes(folder, capsys, line, found):
    write_recipe(folder, line, quality="hgih")
    result = run_cli(capsys, "validate", "--format", "json", "recipe.yaml")
    assert result.code == 2, result.err
    [entry] = json.loads(result.out)
    paths = [d["path"] for d in entry["diagnostics"]]
    assert paths == ["defaults.quality", "prompt"] if found else ["defaults.quality"]
    if found:
        assert entry["diagnostics"][1]["line"] == 10


def test_a_lone_surrogate_in_the_template_text_is_refused(folder, capsys):
    write_recipe(folder, "x")
    recipe = folder / "recipe.yaml"
    text = recipe.read_text("utf-8").replace("  a mug in {{ season }},\n  x\n", "")
    # A YAML escape that gives half of a UTF-16 pair: it cannot be sent or written.
    text = text.replace("prompt: |\n", 'prompt: "\\ud800 {{ season }}"\n')
    recipe.write_text(text, encoding="utf-8")
    result = run_cli(capsys, "plan", "recipe.yaml")
    assert result.code == 2, result.err
    assert "the template contains an invalid character (U+D800" in result.err
