"""plan_recipe: the job cap, every problem at once, prices and the bundled example."""

from __future__ import annotations

import shutil
from pathlib import Path

from runner.plan.planner import DEFAULT_MAX_JOBS, plan_recipe
from runner.recipe.model import PriceTable
from tests.plan_support import headlines, make_recipe, plan_errors, plan_text, png_bytes

REPO = Path(__file__).resolve().parent.parent


def axes_recipe(count: int, size: int, extra: str = "") -> str:
    axes = "".join(f"  a{i}: {{ glob: 'rows/*.txt' }}\n" for i in range(count))
    output = "-".join(f"{{{{ a{i}.stem }}}}" for i in range(count))
    return (
        f"version: 1\nname: big\n{extra}matrix:\n{axes}"
        f'image: a.png\nprompt: "p"\noutput: "{output}"\n'
    )


def rows(size: int) -> dict[str, bytes | str]:
    return {f"rows/{i:04d}.txt": "" for i in range(size)} | {"a.png": png_bytes()}


def test_a_huge_matrix_fails_at_once_without_being_built(tmp_path):
    # 1000^4 = 10^12 combinations: building them would never finish.
    (diagnostic,) = plan_errors(tmp_path, axes_recipe(4, 1000), rows(1000))
    assert diagnostic.headline() == (
        "recipe.yaml:4:3: error: matrix: the matrix makes 1,000,000,000,000 combinations before "
        "`exclude`, more than the cap of 10,000 (the default cap)"
    )
    assert "max_jobs: N" in (diagnostic.hint or "")
    assert "--max-jobs N" in (diagnostic.hint or "")


def test_the_cap_from_the_recipe_and_from_the_argument(tmp_path):
    files = rows(30)
    (diagnostic,) = plan_errors(tmp_path, axes_recipe(2, 30, "max_jobs: 500\n"), files)
    assert diagnostic.path == "max_jobs"
    assert "900 combinations" in diagnostic.message
    assert "cap of 500 (max_jobs)" in diagnostic.message
    # The argument wins over the recipe, both ways.
    assert len(plan_text(tmp_path, axes_recipe(2, 30, "max_jobs: 500\n"), max_jobs=900).jobs) == 900
    (diagnostic,) = plan_errors(tmp_path, axes_recipe(2, 30), max_jobs=899)
    assert "cap of 899 (--max-jobs)" in diagnostic.message
    assert DEFAULT_MAX_JOBS == 10_000


def test_include_entries_count_towards_the_cap(tmp_path):
    text = (
        "version: 1\nname: t\nmatrix:\n  include:\n"
        + "".join(f"    - {{ k: v{i} }}\n" for i in range(4))
        + 'image: a.png\nprompt: "p"\noutput: "{{ k }}"\n'
    )
    (diagnostic,) = plan_errors(tmp_path, text, {"a.png": png_bytes()}, max_jobs=3)
    assert "the matrix makes 4 jobs, more than the cap of 3" in diagnostic.message
    assert len(plan_text(tmp_path, text, max_jobs=4).jobs) == 4


def test_every_kind_of_problem_is_reported_at_once(tmp_path):
    text = (
        "version: 1\n"
        "name: t\n"
        "defaults: { quality: \"{{ 'hgih' }}\" }\n"
        "matrix:\n"
        "  season: [spring, winter]\n"
        "  market: { csv: missing.csv }\n"
        "  exclude:\n"
        "    - { seson: winter }\n"
        'image: "{{ season }}.png"\n'
        'prompt: "{{ season "\n'
        'output: "{{ season }}"\n'
    )
    diagnostics = plan_errors(tmp_path, text)
    assert [str(d.span) for d in diagnostics] == [
        "recipe.yaml:6:18",  # missing CSV
        "recipe.yaml:8:9",  # exclude typo
        "recipe.yaml:10:9",  # template syntax
    ]
    # Once the recipe's own structure is right, the per-job problems all come together.
    fixed = text.replace("  market: { csv: missing.csv }\n", "").replace("seson", "season")
    fixed = fixed.replace('"{{ season "', '"{{ season }}"')
    diagnostics = plan_errors(tmp_path, fixed)
    assert headlines(diagnostics) == [
        "recipe.yaml:3:22: error: defaults.quality: quality: 'hgih' is not one of low, medium, "
        "high (did you mean 'high'?) (in job season=spring)",
        "recipe.yaml:8:8: error: image: the image spring.png does not exist (in job season=spring)",
    ]


def test_prices_come_from_the_argument_or_the_recipe(tmp_path):
    text = axes_recipe(1, 3)
    prices = PriceTable(square={"medium": 1.0}, non_square={"medium": 2.0})
    plan = plan_text(tmp_path, text, rows(3), prices=prices)
    assert plan.prices is prices
    assert plan.cost().total_usd == 3.0
    recipe = make_recipe(tmp_path, text)
    assert plan_recipe(recipe).prices is recipe.prices


def test_the_bundled_example_recipe_plans(tmp_path):
    shutil.copytree(REPO / "recipes", tmp_path, dirs_exist_ok=True)
    text = (REPO / "recipes" / "spring-campaign.yaml").read_text(encoding="utf-8")
    plan = plan_text(tmp_path, text)
    # 2 products x 4 seasons x 4 markets, minus winter in ja-JP for both products.
    assert len(plan.jobs) == 30
    assert [job.prompt_object.quality for job in plan.jobs].count("high") == 4
    assert plan.jobs[0].outputs == ("fr-FR/MUG-01-spring.webp",)
    assert plan.jobs[0].prompt_object.prompt == (
        "ceramic mug on a Parisian café terrace in spring,\n"
        "soft natural light, photorealistic, Acme Home colour palette"
    )
    assert plan.upload_count == 2


def test_plans_what_the_recipe_builder_loads(tmp_path):
    from runner.recipe.build import load_recipe

    shutil.copytree(REPO / "recipes", tmp_path, dirs_exist_ok=True)
    (tmp_path / "data" / "markets.csv").write_bytes(
        "\ufeffcode;country;setting\r\nfr-FR;France;un café\r\nja-JP;Japan;和室\r\n".encode(
            "utf-16"
        )
    )
    recipe = load_recipe(tmp_path / "spring-campaign.yaml", display="spring-campaign.yaml")
    plan = plan_recipe(recipe)
    assert len(plan.jobs) == 14  # 2 products x 4 seasons x 2 markets, minus winter in ja-JP
    assert plan.jobs[0].label == "product=MUG-01 season=spring market=fr-FR"
    assert plan.jobs[0].prompt_object.quality == "high"
    assert plan.output_dir == tmp_path.resolve() / "out" / "spring-campaign"
