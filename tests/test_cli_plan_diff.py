"""`backdrop plan --diff` from the command line: formats, exit codes, GitHub output."""

from __future__ import annotations

import json
from pathlib import Path

from runner.plan.planner import plan_recipe
from runner.recipe.build import load_recipe
from tests.clihelp import run_cli
from tests.test_plan_diff import complete

RECIPE = "campaign/spring-campaign.yaml"


def run_recorded(example: Path) -> None:
    """The recipe as a complete run would leave its folder (real state, real files)."""
    complete(plan_recipe(load_recipe(example / "spring-campaign.yaml")))


def test_detailed_exitcode_is_2_when_something_would_be_generated(example, capsys):
    result = run_cli(capsys, "plan", RECIPE, "--diff", "--detailed-exitcode")
    assert result.code == 2
    assert "30 new, 0 changed" in result.out
    assert "no earlier run in the output folder" in result.out


def test_detailed_exitcode_is_0_after_a_complete_run(example, capsys):
    run_recorded(example)
    result = run_cli(capsys, "plan", RECIPE, "--diff", "--detailed-exitcode")
    assert result.code == 0, result.err
    assert "0 new, 0 changed, 30 up to date" in result.out
    # one count per comma: "0 paid, to download" read as two
    assert "30 up to date, 0 paid but not downloaded, 0 stale files:" in result.out
    plain = run_cli(capsys, "plan", RECIPE)  # plain plan no longer claims all is to generate
    assert plain.code == 0
    assert "30 jobs, 30 images in the plan" in plain.out
    assert "After the runs so far: 0 new, 0 changed, 30 up to date" in plain.out


def test_detailed_exitcode_is_2_for_images_only_to_download_again(example, capsys):
    run_recorded(example)
    next((example / "out").rglob("*.webp")).unlink()  # paid for: downloaded again, not paid
    result = run_cli(capsys, "plan", RECIPE, "--diff", "--detailed-exitcode")
    assert "0 new, 0 changed, 29 up to date, 1 paid but not downloaded, 0 stale" in result.out
    assert result.code == 2  # not an empty diff, though nothing is to generate
    assert run_cli(capsys, "plan", RECIPE, "--detailed-exitcode").code == 2  # without --diff too


def test_detailed_exitcode_is_2_for_stale_files_alone(example, capsys):
    run_recorded(example)
    csv = example / "data" / "markets.csv"
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(line for line in lines if not line.startswith("de-DE")))
    result = run_cli(capsys, "plan", RECIPE, "--diff", "--detailed-exitcode")
    assert "0 new, 0 changed, 22 up to date, 0 paid but not downloaded, 8 stale" in result.out
    assert result.code == 2
    json_result = run_cli(capsys, "plan", RECIPE, "--diff", "--format", "json",
                          "--detailed-exitcode")  # fmt: skip
    assert json.loads(json_result.out)["totals"]["stale"] == 8 and json_result.code == 2


def test_detailed_exitcode_is_1_for_an_invalid_recipe_and_for_bad_usage(example, capsys):
    recipe = example / "spring-campaign.yaml"
    recipe.write_text(recipe.read_text().replace("quality: medium ", "quality: hgih   "))
    invalid = run_cli(capsys, "plan", RECIPE, "--diff", "--detailed-exitcode")
    assert invalid.code == 1
    assert "'hgih' is not one of low, medium, high" in invalid.err
    assert run_cli(capsys, "plan", RECIPE, "--diff").code == 2  # without the flag: as before
    usage = run_cli(capsys, "plan", RECIPE, "--detailed-exitcode", "--format", "xml")
    assert usage.code == 1
    missing = run_cli(capsys, "plan", "nowhere.yaml", "--detailed-exitcode")
    assert missing.code == 1


def test_changed_market_in_json_and_markdown(example, capsys):
    run_recorded(example)
    csv = example / "data" / "markets.csv"
    csv.write_text(csv.read_text().replace("a bright Berlin loft kitchen", "a Munich beer garden"))
    result = run_cli(capsys, "plan", RECIPE, "--diff", "--format", "json")
    assert result.code == 0
    document = json.loads(result.out)
    changed = [job for job in document["jobs"] if job["status"] == "changed"]
    assert {job["vars"]["market"]["code"] for job in changed} == {"de-DE"}
    assert all(job["changed_fields"] == ["prompt"] for job in changed)
    assert document["totals"]["changed"] == 8 and document["totals"]["unchanged"] == 22
    assert document["recipe"]["path"] == RECIPE  # never an absolute path
    markdown = run_cli(capsys, "plan", RECIPE, "--diff", "--format", "markdown")
    assert markdown.out.startswith("<!-- backdrop-plan-diff -->")
    cost = document["totals"]["estimated_cost_usd"]
    assert f"**8 images to generate, estimated ${cost:,.2f}**" in markdown.out


def test_step_summary_and_annotations_in_github_actions(example, capsys, monkeypatch, tmp_path):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = run_cli(capsys, "plan", RECIPE, "--diff")
    assert result.code == 0
    assert "**30 images to generate" in summary.read_text()
    recipe = example / "spring-campaign.yaml"
    recipe.write_text(recipe.read_text().replace("quality: medium ", "quality: hgih   "))
    failed = run_cli(capsys, "plan", RECIPE)
    assert failed.code == 2
    assert failed.out.startswith(
        "::error file=campaign/spring-campaign.yaml,line=7,col=12,endLine=7,endColumn=15,"
        "title=Backdrop%3A recipe error::defaults.quality: 'hgih' is not one of"
    )


def test_validate_format_github_annotates_every_problem(example, capsys):
    recipe = example / "spring-campaign.yaml"
    recipe.write_text(
        recipe.read_text()
        .replace("quality: medium ", "quality: hgih   ")
        .replace("n: 1    ", "n: 99   ")
    )
    result = run_cli(capsys, "validate", "--format", "github", RECIPE)
    assert result.code == 2
    lines = [line for line in result.out.splitlines() if line.startswith("::")]
    assert len(lines) == 2
    assert lines[0].startswith("::error file=campaign/spring-campaign.yaml,line=7,col=12,")
    assert lines[1].startswith("::error file=campaign/spring-campaign.yaml,line=8,")
    assert "spring-campaign.yaml: invalid" in result.err  # the text is still there


def test_verify_appends_its_summary(example, capsys, monkeypatch, tmp_path):
    run_recorded(example)
    assert run_cli(capsys, "report", "campaign/out/spring-campaign").code == 0
    (example / "out" / "spring-campaign" / "fr-FR" / "MUG-01-spring.webp").unlink()
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run_cli(capsys, "verify", "campaign/out/spring-campaign")
    assert result.code == 1
    text = summary.read_text()
    assert text.startswith("### Backdrop verify: <code>campaign/out/spring-campaign</code>")
    assert "1 missing, 0 changed, 0 stale file(s)." in text
    assert "- <code>fr-FR/MUG-01-spring.webp</code>" in text


def test_failed_run_jobs_become_errors_on_the_recipe_and_a_summary(
    example, capsys, monkeypatch, tmp_path
):
    from runner.emulator.config import EmulatorConfig
    from runner.emulator.server import EmulatorServer

    key = "sk-TEST-github-output-5c1d"
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("ONEMIN_API_KEY", key)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    with EmulatorServer(EmulatorConfig(api_key=key, error_rate=1.0, seed=1)) as server:
        urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
        result = run_cli(
            capsys, "run", RECIPE, "--yes", "--max-attempts", "1", "--format", "github", *urls
        )
    assert result.code == 1, result.err
    errors = [line for line in result.out.splitlines() if line.startswith("::error ")]
    assert len(errors) == 10
    assert errors[0].startswith(
        "::error file=campaign/spring-campaign.yaml,line=1,title=Backdrop%3A job failed::product="
    )
    notices = [line for line in result.out.splitlines() if line.startswith("::notice ")]
    assert len(notices) == 1 and "20 more errors not shown" in notices[0]
    text = summary.read_text()
    assert "30 failed" in text
    assert text.count("\n| product.sku=") == 30  # every failure, with its matrix values
    assert "<code>campaign/out/spring-campaign/report.html</code>" in text
    assert key not in result.out + text


def test_json_output_stays_json_inside_github_actions(example, capsys, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    recipe = example / "spring-campaign.yaml"
    recipe.write_text(recipe.read_text().replace("quality: medium ", "quality: hgih   "))
    result = run_cli(capsys, "validate", "--format", "json", RECIPE)
    assert result.code == 2
    assert json.loads(result.out)[0]["valid"] is False  # no annotation mixed into the JSON
    plain = run_cli(capsys, "validate", RECIPE)
    assert plain.out.startswith("::error file=campaign/spring-campaign.yaml,line=7,")
