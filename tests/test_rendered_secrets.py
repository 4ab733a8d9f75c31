"""API keys built by templates never reach the API or a file: plan refuses, without showing them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.apikey import ENV_KEY
from tests.clihelp import run_cli
from tests.plan_support import png_bytes

KEY = "sk-test-Zq8UNIQUE-key-4711"  # the user's key, from the environment
HALF = len(KEY) // 2


def write_recipe(folder: Path, prompt: str, output: str = "mug-{{ season }}") -> None:
    (folder / "mug.png").write_bytes(png_bytes())
    (folder / "parts.csv").write_text(f"code,a,b\nfr,{KEY[:HALF]},{KEY[HALF:]}\n", encoding="utf-8")
    text = (
        "version: 1\nname: keys\nmatrix:\n  season: [spring, summer]\n"
        "  part: { csv: parts.csv }\n"
        f"image: mug.png\nprompt: {json.dumps(prompt)}\noutput: {json.dumps(output)}\n"
    )
    (folder / "recipe.yaml").write_text(text, encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_KEY, KEY)
    return tmp_path


@pytest.mark.parametrize(
    ("prompt", "output"),
    [
        (f"a mug {{{{ '{KEY[:HALF]}' ~ '{KEY[HALF:]}' }}}}", "mug-{{ season }}"),  # pieces
        ("a mug {{ part.a ~ part.b }}", "mug-{{ season }}"),  # split across CSV cells
        (f"a mug {{{{ '{KEY[::-1]}' | reverse | join }}}}", "mug-{{ season }}"),  # reversed
        ("a mug in {{ season }}", "{{ part.a }}{{ part.b }}/{{ season }}"),  # in a file name
    ],
)
def test_a_key_built_by_a_template_is_refused_without_being_shown(folder, capsys, prompt, output):
    write_recipe(folder, prompt, output)
    for command in (["plan"], ["plan", "--json"], ["validate"]):
        result = run_cli(capsys, *command, "recipe.yaml")
        assert result.code == 2, result.err
        assert "contains your API key (the value of ONEMIN_API_KEY)" in result.err
        shown = result.out + result.err
        assert KEY not in shown
        assert KEY[::-1] not in shown
        assert KEY[:HALF] not in shown and KEY[HALF:] not in shown  # not even the pieces
    assert not (folder / "out").exists()


def test_a_key_shaped_string_is_refused_even_when_it_is_not_the_users(folder, capsys):
    other = "sk-live-9f8e7d6c5b4a3f2e1d0c"
    write_recipe(folder, f"a mug {{{{ '{other[:10]}' ~ '{other[10:]}' }}}}")
    result = run_cli(capsys, "plan", "recipe.yaml")
    assert result.code == 2, result.err
    assert "a string shaped like an API key" in result.err
    assert other not in result.err


def test_ordinary_prompts_with_dashes_and_codes_pass(folder, capsys):
    write_recipe(folder, "a mug, sku-2024-spring-collection-001, in {{ season }}")
    result = run_cli(capsys, "plan", "recipe.yaml")
    assert result.code == 0, result.err


def test_run_refuses_before_anything_is_sent_or_written(folder, capsys):
    write_recipe(folder, "a mug {{ part.a ~ part.b }}")
    result = run_cli(capsys, "run", "recipe.yaml", "--emulate", "--yes")
    assert result.code == 2, result.err
    assert "contains your API key" in result.err
    assert KEY not in result.out + result.err
    assert not (folder / "out").exists()  # no state, no request log, no report
