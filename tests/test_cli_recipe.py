"""The recipe-facing commands end to end: init, validate, plan, schema."""

from __future__ import annotations

import json
from pathlib import Path

from tests.clihelp import run_cli


def test_validate_reports_the_readme_example_exactly(example, capsys):
    recipe = example / "spring-campaign.yaml"
    recipe.write_text(recipe.read_text().replace("quality: medium ", "quality: hgih   "))
    result = run_cli(capsys, "validate", "campaign/spring-campaign.yaml")
    assert result.code == 2
    assert result.err.startswith(
        "campaign/spring-campaign.yaml:7:12: error: defaults.quality: "
        "'hgih' is not one of low, medium, high (did you mean 'high'?)\n"
        "    7 |   quality: hgih"
    )
    assert "\n      |            ^^^^\n" in result.err
    assert "Traceback" not in result.err


def test_validate_json_lists_every_problem_with_positions(example, capsys):
    recipe = example / "spring-campaign.yaml"
    text = recipe.read_text().replace("quality: medium ", "quality: hgih   ")
    text = text.replace("n: 1 ", "n: 11")
    recipe.write_text(text)
    result = run_cli(capsys, "validate", "--format", "json", "campaign/spring-campaign.yaml")
    assert result.code == 2
    [entry] = json.loads(result.out)
    assert entry["valid"] is False
    where = {(d["path"], d["line"], d["column"]) for d in entry["diagnostics"]}
    assert ("defaults.quality", 7, 12) in where
    assert ("defaults.n", 8, 6) in where


def test_validate_ok_counts_jobs(example, capsys):
    result = run_cli(capsys, "validate", "campaign/spring-campaign.yaml")
    assert result.code == 0, result.err
    # 2 products x 4 seasons x 4 markets, minus 2 winter ja-JP jobs.
    assert result.out.strip() == "campaign/spring-campaign.yaml: ok (30 jobs, 30 images)"


def test_plan_json_is_the_full_plan(example, capsys):
    result = run_cli(capsys, "plan", "--json", "campaign/spring-campaign.yaml")
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["totals"]["jobs"] == 30
    assert plan["totals"]["uploads"] == 2
    first = plan["jobs"][0]
    assert set(first) >= {"key", "vars", "image", "prompt_object", "outputs"}
    assert first["outputs"] == ["fr-FR/MUG-01-spring.webp"]
    assert first["prompt_object"]["quality"] == "high"  # the include override
    assert first["prompt_object"]["prompt"].startswith("ceramic mug on a Parisian café terrace")
    keys = [job["key"] for job in plan["jobs"]]
    assert len(set(keys)) == 30


def test_plan_table_shows_totals_and_an_estimate(example, capsys):
    result = run_cli(capsys, "plan", "campaign/spring-campaign.yaml", "--price", "medium=1")
    assert result.code == 0, result.err
    assert "30 jobs, 30 images to generate, 2 source images to upload" in result.out
    # 26 medium non-square jobs at the overridden $1, 4 high ones at the list $0.25.
    assert "Estimated cost: $27.00 (an estimate" in result.out


def test_plan_rejects_a_bad_price_flag_without_traceback(example, capsys):
    result = run_cli(capsys, "plan", "campaign/spring-campaign.yaml", "--price", "ultra=1")
    assert result.code == 2
    assert "--price 'ultra=1' is not understood" in result.err
    assert "Traceback" not in result.err


def test_missing_recipe_is_a_clear_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, "plan", "nope.yaml")
    assert result.code == 2
    assert "nope.yaml" in result.err
    assert "Traceback" not in result.err


def test_init_scaffolds_a_project_that_plans_at_once(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, "init", "fresh")
    assert result.code == 0, result.err
    recipe = tmp_path / "fresh" / "recipe.yaml"
    assert recipe.read_text().startswith("# yaml-language-server: $schema=./recipe.schema.json")
    assert json.loads((tmp_path / "fresh" / "recipe.schema.json").read_text())["$schema"]
    planned = run_cli(capsys, "plan", "--json", "fresh/recipe.yaml")
    assert planned.code == 0, planned.err
    assert json.loads(planned.out)["totals"]["jobs"] == 4
    again = run_cli(capsys, "init", "fresh")
    assert again.code == 2
    assert "never overwrites" in again.err


def test_init_shows_how_to_read_an_excel_sheet_and_that_line_works(tmp_path, monkeypatch, capsys):
    from tests.xlsx_support import write_workbook

    monkeypatch.chdir(tmp_path)
    assert run_cli(capsys, "init", "fresh").code == 0
    recipe = tmp_path / "fresh" / "recipe.yaml"
    lines = recipe.read_text().splitlines()
    [csv_line] = [line for line in lines if line.startswith("  market: { csv:")]
    [xlsx_line] = [line for line in lines if line.startswith("  # market: { xlsx:")]
    recipe.write_text("\n".join(lines).replace(csv_line, xlsx_line.replace("# ", "", 1)))
    rows = [["code", "setting"], ["fr-FR", "a Paris café"], ["de-DE", "a Berlin loft"]]
    write_workbook(tmp_path / "fresh" / "data" / "markets.xlsx", {"Markets": rows})
    planned = run_cli(capsys, "plan", "--json", "fresh/recipe.yaml")
    assert planned.code == 0, planned.err
    assert json.loads(planned.out)["totals"]["jobs"] == 4


def test_schema_command_prints_the_shipped_schema(capsys):
    result = run_cli(capsys, "schema")
    assert result.code == 0
    shipped = json.loads(
        (Path(__file__).parents[1] / "runner" / "schemas" / "recipe.schema.json").read_text()
    )
    assert json.loads(result.out) == shipped


def test_init_where_no_folder_can_be_made_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("x")
    result = run_cli(capsys, "init", "a-file/project")
    assert result.code == 2
    assert "cannot create the project in a-file/project" in result.err
    assert "internal error" not in result.err
