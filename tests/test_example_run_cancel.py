"""run.yml's generate step, as written, cancelled the way GitHub's runner cancels a step.

actions/runner (src/Runner.Sdk/ProcessInvoker.cs) sends SIGINT to the step's own process, then
SIGTERM 7.5 s later, then kills it 2.5 s after that. For a `run:` step that process is the shell
running the script from a file: `bash -e {0}` when the step names no shell, `bash --noprofile
--norc -e -o pipefail {0}` with `shell: bash` (ScriptHandler.cs, ScriptHandlerHelpers.cs).
Without `exec`, backdrop never sees a signal: bash dies on SIGTERM and backdrop runs on. With
it, backdrop drains on SIGINT and exits 143 on SIGTERM, before the kill.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from runner.commands.progress import STOPPING
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from tests.platforms import posix_only

pytestmark = [
    pytest.mark.slow,
    posix_only("bash, process groups and POSIX signals: the cancel of a step on a Linux runner"),
]

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "example"
KEY = "sk-TEST-cancel-5e8a1d"
SHELLS = {
    "no shell named": ["bash", "-e"],
    "shell: bash": ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail"],
}
# GitHub waits 7.5 s between SIGINT and SIGTERM. Here SIGTERM comes once backdrop has said it
# is draining (the order kept, no fixed wait); the generations take far longer than that, so
# the drain is still going when SIGTERM comes, even on a loaded machine.
GENERATION_SECONDS = 3.0
# GitHub kills 2.5 s after SIGTERM. Here the kill comes later, so that a loaded machine does not
# fail the test: it checks who exits and how, not how fast (backdrop took 0.3 to 0.4 s from
# SIGTERM to its exit on a loaded 2-core machine).
SIGTERM_TO_SIGKILL = 20.0
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(api_key=KEY, latency=GENERATION_SECONDS, cache_results=True)
    with EmulatorServer(config) as running:
        yield running
        # The generations backdrop abandoned are still being answered, to nobody: end the
        # server without its graceful wait for them (up to GENERATION_SECONDS of idle worker).
        assert running._serving is not None
        running._serving.server.force_exit = True


def generate_step() -> tuple[str, dict[str, str]]:
    """The generate job's `backdrop run` step: its script as written, and its environment merged
    as GitHub merges it (workflow, job, step), with the expressions it uses filled in."""
    flow = yaml.safe_load((ROOT / "examples" / "github" / "run.yml").read_text())
    job = flow["jobs"]["generate"]
    (step,) = [s for s in job["steps"] if "backdrop run" in s.get("run", "")]
    known = {"matrix.shard": "1", "secrets.ONEMIN_API_KEY": KEY}

    def resolve(value: object) -> str:
        return EXPRESSION.sub(lambda match: known[match.group(1)], str(value))

    env = {**flow.get("env", {}), **job.get("env", {}), **step.get("env", {})}
    return step["run"], {name: resolve(value) for name, value in env.items()}


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("shell", list(SHELLS))
def test_a_cancelled_generate_step_drains_and_exits_143_before_the_kill(
    server: EmulatorServer, tmp_path: Path, shell: str
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo / "recipes")
    script, step_env = generate_step()
    script_file = tmp_path / "step.sh"  # the runner writes the script to a file, then runs it
    script_file.write_text(script)
    env = {
        **os.environ,
        **step_env,
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "ONEMIN_API_URL": server.base_url,  # the emulator instead of 1min.ai
        "ONEMIN_ASSET_URL": server.asset_base_url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        # A session of its own: whatever the step leaves running can be found and ended.
        step = subprocess.Popen(
            [*SHELLS[shell], str(script_file)],
            cwd=repo, env=env, stdout=stdout, stderr=stderr, start_new_session=True,
        )  # fmt: skip
    survivors = True
    try:
        deadline = time.monotonic() + 60
        while server.api.stats.in_flight < 1:  # generations on their way: now cancel
            assert step.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "no generation got in flight"
            time.sleep(0.01)
        os.kill(step.pid, signal.SIGINT)  # to the step's own process only, as the runner does
        while STOPPING not in err.read_text():  # backdrop got it, and drains
            assert step.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "backdrop never said it was stopping"
            time.sleep(0.01)
        assert step.poll() is None  # draining: the generations take longer
        os.kill(step.pid, signal.SIGTERM)
        try:
            step.wait(SIGTERM_TO_SIGKILL)
        except subprocess.TimeoutExpired:
            os.kill(step.pid, signal.SIGKILL)
            step.wait()
        survivors = group_alive(step.pid)
    finally:
        if group_alive(step.pid):
            os.killpg(step.pid, signal.SIGKILL)  # a backdrop the shell left behind
        step.wait()
    errors = err.read_text()
    assert step.returncode == 143, errors  # the shell killed by SIGTERM would be -15
    assert not survivors, "backdrop ran on after the step ended"
    assert errors.index(STOPPING) < errors.index("Aborted (SIGTERM, stopped at once).")
    assert re.search(r"\d+ generations? in flight abandoned", errors)  # said, and on record
    assert (repo / "recipes" / "out" / "spring-campaign" / "shard-1" / "results.json").is_file()
