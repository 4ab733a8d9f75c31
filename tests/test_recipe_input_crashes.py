"""Recipe input that used to end in an internal error (exit 70): each is now a diagnostic, exit 2.

Found by fuzzing `validate` and `plan`; driven through the real CLI entry point.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.diagnostics import EXIT_USAGE
from runner.recipe.loader import MAX_NUMBER_DIGITS
from tests.clihelp import run_cli

EXAMPLE = Path(__file__).parent / "fixtures" / "example"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "p")
    return tmp_path / "p"


def recipe_with(project: Path, old: str, new: str) -> str:
    path = project / "spring-campaign.yaml"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), "utf-8")
    return str(path)


def validate(capsys: pytest.CaptureFixture[str], recipe: str) -> str:
    result = run_cli(capsys, "validate", recipe)
    assert result.code == EXIT_USAGE, result.out + result.err
    assert "internal error" not in result.out + result.err
    return result.out + result.err


def test_a_number_with_thousands_of_digits_is_a_diagnostic(project, capsys):
    recipe = recipe_with(project, "n: 1 ", "n: " + "9" * 5000 + " ")
    out = validate(capsys, recipe)
    assert "spring-campaign.yaml:8:6: error: this number has 5,000 digits, more than the " in out
    assert f"{MAX_NUMBER_DIGITS:,} allowed" in out
    assert "put it in quotes" in out


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            'image: "{{ product.image }}"',
            'image: "images/mug\\0.png"',
            "image: the image images/mug\\x00.png cannot exist: the path contains a NUL",
            id="image",
        ),
        pytest.param(
            "data/markets.csv",
            '"data/mark\\0ets.csv"',
            "data/mark\\x00ets.csv cannot exist: the path contains a NUL",
            id="csv path",
        ),
        pytest.param(
            "vars:",
            'output_dir: "o\\0ut"\nvars:',
            "output_dir: the path contains a NUL character",
            id="output_dir",
        ),
    ],
)
def test_a_nul_byte_in_a_path_is_a_diagnostic(project, capsys, old, new, expected):
    out = validate(capsys, recipe_with(project, old, new))
    assert expected in out
    assert "\0" not in out  # never sent raw to the terminal


def test_a_lone_surrogate_in_yaml_is_a_diagnostic(project, capsys):
    out = validate(capsys, recipe_with(project, "brand: Acme Home", 'brand: "\\ud800"'))
    assert (
        "spring-campaign.yaml:12:10: error: the text contains an invalid character (U+D800, half "
        "of a pair that Unicode needs whole)"
    ) in out


def test_a_lone_surrogate_in_a_key_is_a_diagnostic(project, capsys):
    out = validate(capsys, recipe_with(project, "brand: Acme Home", '"\\udfff": x'))
    assert "this key holds an invalid character (a lone surrogate)" in out


@pytest.mark.parametrize("shape", ["[" * 300 + "]" * 300, "{a: " * 300 + "1" + "}" * 300])
def test_300_deep_nesting_next_to_a_schema_error_is_a_diagnostic(project, capsys, shape):
    recipe = recipe_with(project, "vars:", f"promt: x\nfoo: {shape}\nvars:")
    out = validate(capsys, recipe)
    assert "the file is nested more than 200 levels deep" in out


def test_the_caret_for_a_missing_colon_is_on_the_line_that_lacks_it(project, capsys):
    out = validate(capsys, recipe_with(project, "name: spring-campaign", "name spring-campaign"))
    assert "spring-campaign.yaml:3:1: error: this line has no ':' after its key" in out
    assert "    3 | name spring-campaign\n      | ^" in out


def test_a_missing_colon_in_a_nested_mapping_points_at_its_own_line(tmp_path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text("version: 1\ndefaults:\n  quality: high\n  size 1024x1024\n  n: 1\n", "utf-8")
    out = validate(capsys, str(path))
    assert "r.yaml:4:3: error: this line has no ':' after its key" in out


def test_an_output_dir_name_too_long_for_any_file_system_is_a_diagnostic(project, capsys):
    out = validate(capsys, recipe_with(project, "vars:", f"output_dir: out/{'x' * 5000}\nvars:"))
    assert "error: output_dir: a folder name in this path is 5,000 bytes long; file systems " in out


def test_a_template_integer_with_thousands_of_digits_is_a_diagnostic(project, capsys):
    # Found by the fuzz test: Jinja's lexer converts the literal with int(), which refuses it.
    recipe = recipe_with(project, "soft natural light", "soft {{ " + "9" * 4400 + " }} light")
    out = validate(capsys, recipe)
    expected = "prompt: template syntax error: a number in this template has more than 4,300 digits"
    assert expected in out


def test_an_output_dir_flag_too_long_for_any_file_system_is_a_usage_error(project, capsys):
    recipe = str(project / "spring-campaign.yaml")
    result = run_cli(capsys, "plan", recipe, "--output-dir", str(project / ("x" * 300)))
    assert result.code == EXIT_USAGE
    assert "error: --output-dir: a folder name is 300 bytes long; file systems allow 255" in (
        result.err
    )


def test_an_image_url_with_an_unclosed_ipv6_bracket_is_a_diagnostic(project, capsys):
    # urllib.parse refuses it with a ValueError, which used to escape as an internal error.
    recipe = recipe_with(project, 'image: "{{ product.image }}"', 'image: "https://[::1/mug.png"')
    out = validate(capsys, recipe)
    assert (
        "error: image: https://[::1/mug.png is not a valid address: brackets [ ] in its host are "
        "unpaired or hold no IPv6 address"
    ) in out


def test_a_number_thousands_of_digits_long_made_by_a_template_is_a_diagnostic(project, capsys):
    # Only rendering makes it: the loader's digit cap never sees it, and int() refuses it.
    recipe = recipe_with(project, "n: 1 ", "n: \"{{ '9' * 5000 }}\" ")
    out = validate(capsys, recipe)
    assert (
        "spring-campaign.yaml:8:6: error: defaults.n: n: a number 5,000 digits long (from "
        "\"{{ '9' * 5000 }}\") is out of range (in all 30 jobs)"
    ) in out
    assert "hint: n must be from 1 to 10" in out
    assert "9" * 100 not in out


def test_a_long_rendered_value_is_quoted_short_in_its_message(project, capsys):
    recipe = recipe_with(project, "quality: medium", "quality: \"{{ 'x' * 90000 }}\"")
    out = validate(capsys, recipe)
    assert "error: defaults.quality: quality: 'xxxxxxxx" in out
    assert "… (90,000 characters) is not one of low, medium, high" in out
    assert len(out) < 5_000
