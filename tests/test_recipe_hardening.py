"""Recipe loading against hostile or careless input: sizes, non-regular files, .inf/.nan,
prices, and several problems reported in one run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.diagnostics import RecipeError
from runner.recipe.build import _check_prices, load_recipe
from runner.recipe.loader import MAX_RECIPE_BYTES, load_yaml, load_yaml_file
from tests.test_recipe_build import BASE, write


def diagnostics(path: Path) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, display="r.yaml")
    return [d.render() for d in caught.value.diagnostics()]


def test_a_recipe_larger_than_the_cap_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "# " + "x" * MAX_RECIPE_BYTES + "\n")
    [message] = diagnostics(path)
    assert message.startswith("r.yaml: error: the file is too large (1.0 MB; the limit is 1.0 MB)")
    assert "CSV or YAML axis file" in message


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused_instead_of_being_read_forever() -> None:
    with pytest.raises(RecipeError) as caught:
        load_yaml_file(Path("/dev/zero"), "zero.yaml")
    [diagnostic] = caught.value.diagnostics()
    assert diagnostic.headline() == (
        "zero.yaml: error: the file is not a regular file (it is a device, a pipe or a socket)"
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "recipe.yaml"
    os.mkfifo(pipe)
    assert "not a regular file" in diagnostics(pipe)[0]


@pytest.mark.parametrize("text", [".inf", "-.inf", "+.inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"])
def test_yaml_infinity_and_nan_stay_the_text_typed(text: str) -> None:
    assert load_yaml(f"value: {text}\n", "v.yaml").data == {"value": text}


def test_a_float_too_large_for_a_number_stays_text() -> None:
    assert load_yaml("a: 1e999\nb: 2.5e3\n", "v.yaml").data == {"a": "1e999", "b": 2500.0}


def test_a_nan_or_infinite_price_is_not_a_number(tmp_path: Path) -> None:
    text = BASE + "prices:\n  square: { low: .nan, high: .inf }\n"
    assert [m.splitlines()[0] for m in diagnostics(write(tmp_path, text))] == [
        "r.yaml:10:18: error: prices.square.low: expected a number, got '.nan'",
        "r.yaml:10:30: error: prices.square.high: expected a number, got '.inf'",
    ]


@pytest.mark.parametrize("price", [float("nan"), float("inf"), -0.5, "0.1", True])
def test_the_builder_refuses_a_price_the_schema_let_through(price: object) -> None:
    # Defence in depth: the YAML loader no longer makes NaN, but a later change might.
    doc = load_yaml("prices:\n  non_square:\n    high: 1\n", "r.yaml")
    doc.data["prices"]["non_square"]["high"] = price
    [diagnostic] = _check_prices(doc)
    assert diagnostic.headline() == (
        f"r.yaml:3:11: error: prices.non_square.high: the price {price!r} is not a number of "
        "dollars of 0 or more"
    )


def test_exclude_typos_are_reported_with_schema_errors(tmp_path: Path) -> None:
    text = BASE.replace(
        "image:",
        "  exclude:\n    - { seasn: spring }\n    - { prodct: mug }\nimage:",
    ).replace("name: shoot", "name: shoot\npromt: x")
    assert [m.splitlines()[0] for m in diagnostics(write(tmp_path, text))] == [
        "r.yaml:3:1: error: unknown key 'promt' (did you mean 'prompt'?)",
        "r.yaml:8:9: error: matrix.exclude[0]: exclude key 'seasn' is not a matrix axis "
        "(did you mean 'season'?)",
        "r.yaml:9:9: error: matrix.exclude[1]: exclude key 'prodct' is not a matrix axis "
        "(did you mean 'product'?)",
    ]


def test_a_secret_key_does_not_hide_other_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONEMIN_API_KEY", "mk-0123456789abcdef")
    text = BASE.replace("name: shoot", "name: shoot\npromt: x\napi_key: hunter2-secret") + (
        "defaults: { quality: mk-0123456789abcdef }\n"
    )
    rendered = diagnostics(write(tmp_path, text))
    headlines = [m.splitlines()[0] for m in rendered]
    assert headlines[0] == "r.yaml:3:1: error: unknown key 'promt' (did you mean 'prompt'?)"
    assert headlines[1] == (
        "r.yaml:4:1: error: a recipe must not hold secrets, but it has a key named 'api_key'"
    )
    assert any("the recipe contains your API key" in h for h in headlines)
    assert any("defaults.quality" in h for h in headlines)
    everything = "\n".join(rendered)
    assert "hunter2" not in everything
    assert "mk-0123456789abcdef" not in everything
