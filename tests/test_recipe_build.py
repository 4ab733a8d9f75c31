"""load_recipe: from a file on disk to the frozen Recipe that planning receives."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from runner.diagnostics import RecipeError
from runner.recipe.build import load_recipe
from runner.recipe.model import DEFAULT_PRICES, Axis, AxisSource, ReportLayout

ROOT = Path(__file__).resolve().parent.parent

BASE = """\
version: 1
name: shoot
matrix:
  product: [mug, tote]
  season: [spring, summer]
image: images/mug.png
prompt: "a {{ product }} in {{ season }}"
output: "{{ product }}-{{ season }}"
"""


def write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def headlines(path: Path) -> list[str]:
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, display="r.yaml")
    return [d.headline() for d in caught.value.diagnostics()]


def test_the_issue_example_builds_the_expected_recipe(tmp_path: Path) -> None:
    text = (ROOT / "recipes" / "spring-campaign.yaml").read_text("utf-8")
    path = write(tmp_path, text, "spring-campaign.yaml")
    recipe = load_recipe(path)
    assert recipe.path == path.resolve()
    assert recipe.base_dir == tmp_path.resolve()
    assert recipe.name == "spring-campaign"
    assert recipe.description == "Seasonal lifestyle backgrounds per market"
    assert recipe.defaults == {
        "size": "1536x1024",
        "quality": "medium",
        "n": 1,
        "output_format": "webp",
        "output_compression": 85,
    }
    assert recipe.vars == {"brand": "Acme Home"}
    assert recipe.axes == (
        Axis(
            "product",
            AxisSource(
                "inline",
                values=(
                    {"sku": "MUG-01", "name": "ceramic mug", "image": "images/mug.png"},
                    {"sku": "TOTE-02", "name": "linen tote bag", "image": "images/tote.png"},
                ),
            ),
            ("matrix", "product"),
        ),
        Axis(
            "season",
            AxisSource("inline", values=("spring", "summer", "autumn", "winter")),
            ("matrix", "season"),
        ),
        Axis("market", AxisSource("csv", path="data/markets.csv"), ("matrix", "market")),
    )
    assert recipe.exclude == ({"season": "winter", "market": {"code": "ja-JP"}},)
    assert recipe.include == (
        {"product": {"sku": "MUG-01"}, "season": "spring", "quality": "high"},
    )
    assert recipe.image == "{{ product.image }}"
    assert recipe.prompt == (
        "{{ product.name }} on {{ market.setting }} in {{ season }},\n"
        "soft natural light, photorealistic, {{ brand }} colour palette\n"
    )
    assert recipe.output == "{{ market.code }}/{{ product.sku }}-{{ season }}"
    assert recipe.output_dir is None
    assert recipe.prices == DEFAULT_PRICES
    assert recipe.report == ReportLayout()
    assert recipe.max_jobs is None
    # Later stages point back into the recipe through the source map.
    span = recipe.source.span(("matrix", "include", 0, "quality"))
    assert span is not None and (span.line, span.col) == (22, 60)
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.name = "other"  # type: ignore[misc]


def test_optional_sections_and_file_axes(tmp_path: Path) -> None:
    text = BASE.replace(
        "  season: [spring, summer]\n",
        "  season: { yaml: seasons.yaml }\n  photo: { glob: 'images/*.png' }\n",
    ) + (
        "description: ''\n"
        "output_dir: renders\n"
        "max_jobs: 50\n"
        "report: { rows: product, columns: photo }\n"
        "prices:\n  non_square: { high: 0.3 }\n"
    )
    recipe = load_recipe(write(tmp_path, text))
    assert [(a.name, a.source.kind, a.source.path) for a in recipe.axes] == [
        ("product", "inline", None),
        ("season", "yaml", "seasons.yaml"),
        ("photo", "glob", "images/*.png"),
    ]
    assert recipe.output_dir == "renders"
    assert recipe.max_jobs == 50
    assert recipe.report == ReportLayout(rows="product", columns="photo")
    assert recipe.prices.non_square == {"low": 0.016, "medium": 0.063, "high": 0.3}
    assert recipe.prices.square == DEFAULT_PRICES.square
    assert recipe.prices.price("high", "1536x1024") == 0.3
    assert recipe.include == () and recipe.exclude == ()


def test_a_matrix_is_optional(tmp_path: Path) -> None:
    text = "version: 1\nname: one\nimage: a.png\nprompt: a mug\noutput: mug\n"
    recipe = load_recipe(write(tmp_path, text))
    assert recipe.axes == () and recipe.defaults == {} and recipe.vars == {}


def test_display_is_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "recipes").mkdir()
    path = write(tmp_path / "recipes", BASE.replace("version: 1", "version: 3"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RecipeError) as inside:
        load_recipe(path)
    assert inside.value.diagnostics()[0].headline().startswith("recipes/recipe.yaml:1:10: ")


def test_display_is_absolute_outside_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    path = write(tmp_path, BASE.replace("version: 1", "version: 3"))
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(RecipeError) as outside:
        load_recipe(path)
    assert outside.value.diagnostics()[0].headline().startswith(f"{path.absolute()}:1:10: ")


def test_missing_file_and_folder_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RecipeError) as missing:
        load_recipe(tmp_path / "nope.yaml", display="recipes/nope.yaml")
    [diagnostic] = missing.value.diagnostics()
    assert diagnostic.headline() == "recipes/nope.yaml: error: file not found"
    with pytest.raises(RecipeError) as folder:
        load_recipe(tmp_path, display="recipes")
    [diagnostic] = folder.value.diagnostics()
    assert diagnostic.headline() == "recipes: error: this is a folder, not a recipe file"


def test_report_axes_must_exist(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "report: { rows: prodcut, columns: colour }\n")
    assert headlines(path) == [
        "r.yaml:9:17: error: report.rows: 'prodcut' is not a matrix axis (did you mean 'product'?)",
        "r.yaml:9:35: error: report.columns: 'colour' is not a matrix axis",
    ]


def test_exclude_keys_must_name_axes(tmp_path: Path) -> None:
    text = BASE.replace(
        "image:",
        "  exclude:\n    - { product: mug, seasn: spring }\n  include:\n"
        "    - { quality: high }\nimage:",
    )
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, display="r.yaml")
    [diagnostic] = caught.value.diagnostics()
    assert diagnostic.render() == (
        "r.yaml:7:23: error: matrix.exclude[0]: exclude key 'seasn' is not a matrix axis "
        "(did you mean 'season'?)\n"
        "    7 |     - { product: mug, seasn: spring }\n"
        "      |                       ^^^^^\n"
        "    hint: the axes are: product, season"
    )


def test_include_and_exclude_entries_must_be_mappings(tmp_path: Path) -> None:
    text = BASE.replace("image:", "  include: [mug]\n  exclude: [[mug]]\nimage:")
    assert headlines(write(tmp_path, text)) == [
        "r.yaml:6:13: error: matrix.include[0]: expected a mapping, got 'mug'",
        "r.yaml:7:13: error: matrix.exclude[0]: expected a mapping, got a list",
    ]


def test_a_misspelled_include_is_not_silently_an_axis(tmp_path: Path) -> None:
    text = BASE.replace("image:", "  inlcude:\n    - { product: mug, colour: red }\nimage:")
    assert headlines(write(tmp_path, text)) == [
        "r.yaml:6:3: error: matrix: 'inlcude' looks like a misspelling of 'include'; it would "
        "be read as an axis"
    ]


def test_every_schema_problem_is_raised_at_once(tmp_path: Path) -> None:
    text = BASE.replace("name: shoot", "name: shoot\npromt: x\ndefaults: { n: 0 }")
    assert headlines(write(tmp_path, text)) == [
        "r.yaml:3:1: error: unknown key 'promt' (did you mean 'prompt'?)",
        "r.yaml:4:16: error: defaults.n: 0 is less than the minimum of 1",
    ]


def test_yaml_problems_surface_through_load_recipe(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "image: other.png\n")
    assert headlines(path) == ["r.yaml:9:1: error: duplicate key 'image' (first defined on line 6)"]


def test_api_key_in_recipe_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "vars:\n  ONEMIN_API_KEY: sk-live-abcdef\n")
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, display="r.yaml")
    [diagnostic] = caught.value.diagnostics()
    assert "ONEMIN_API_KEY environment variable" in (diagnostic.hint or "")
    assert "sk-live" not in diagnostic.render()


def test_schema_errors_do_not_hide_template_typos(tmp_path: Path) -> None:
    # Planning cannot run on a recipe of the wrong shape; the templates are still looked at.
    text = BASE.replace("version: 1\n", "version: 1\ndefaults: { quality: hgih }\n")
    text = text.replace('{{ season }}"\noutput', '{{ seasn }} {% if %}"\noutput')
    text = text.replace('output: "{{ product }}-{{ season }}"', 'output: "{{ prodct }}"')
    path = write(tmp_path, text)
    assert headlines(path) == [
        "r.yaml:2:22: error: defaults.quality: 'hgih' is not one of low, medium, high"
        " (did you mean 'high'?)",
        "r.yaml:8:9: error: prompt: template syntax error: Expected an expression, got 'end of"
        " statement block'",
        "r.yaml:9:9: error: output: 'prodct' is undefined (did you mean 'product'?)",
    ]


def test_an_include_key_nothing_uses_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    text = BASE.replace(
        "image:", "  include:\n    - { product: mug, qualty: high, colour: red }\nimage:"
    )
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, display="r.yaml")
    first, second = caught.value.diagnostics()
    assert first.render() == (
        "r.yaml:7:23: error: matrix.include[0]: 'qualty' is neither a promptObject field nor "
        "used by any template (did you mean 'quality'?)\n"
        "    7 |     - { product: mug, qualty: high, colour: red }\n"
        "      |                       ^^^^^^\n"
        "    hint: the promptObject fields are size, quality, n, output_format, "
        "output_compression; the templates use: product, season"
    )
    assert second.headline() == (
        "r.yaml:7:37: error: matrix.include[0]: 'colour' is neither a promptObject field nor "
        "used by any template"
    )


def test_an_include_key_a_template_uses_is_fine(tmp_path: Path) -> None:
    text = BASE.replace('{{ season }}"\noutput', '{{ season }} {{ colour }}"\noutput').replace(
        "image:",
        "  include:\n    - { product: mug, colour: red, quality: high }\n"
        '    - { product: tote, colour: "{{ brand }}" }\nimage:',
    )
    text = text.replace("matrix:", "vars: { brand: acme }\nmatrix:")
    path = write(tmp_path, text)
    recipe = load_recipe(path, display="r.yaml")
    assert recipe.include[0] == {"product": "mug", "colour": "red", "quality": "high"}
