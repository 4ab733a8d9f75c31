"""Stop signals sent to a real `backdrop run` subprocess while generations are in flight.

SIGINT (Ctrl-C), SIGTERM (docker stop, CI cancel) and SIGHUP (a closed SSH session) all drain:
no new job starts, the answers in flight are saved, the exit code is 128 + the signal. A second
signal or --drain-timeout abandons what is in flight; kill -9 does too. Either way the requests
sent unanswered are on record, and the next run names them.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.commands.progress import STOPPING
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from tests.clihelp import backdrop_in
from tests.platforms import posix_only

# On Windows, tests/test_portable.py drains on Ctrl-C through the path Windows takes.
pytestmark = posix_only("SIGHUP, and SIGINT cannot be sent to one child process there")
KEY = "sk-TEST-signals-3b9d2e7f"
EXAMPLE = Path(__file__).parent / "fixtures" / "example"
REPO = Path(__file__).resolve().parents[1]
SEASONS = "abcdefghijkl"  # 12 jobs, 8 at a time
RECIPE = f"""\
version: 1
name: signals
defaults: {{size: 1024x1024, quality: low, output_format: png}}
matrix:
  season: [{", ".join(SEASONS)}]
image: images/mug.png
prompt: "a mug in season {{{{ season }}}}"
output: "{{{{ season }}}}"
"""


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(api_key=KEY, latency=1.0, cache_results=True)
    with EmulatorServer(config) as running:
        yield running


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    (tmp_path / "images").mkdir()
    shutil.copy(EXAMPLE / "images" / "mug.png", tmp_path / "images" / "mug.png")
    path = tmp_path / "signals.yaml"
    path.write_text(RECIPE)
    return path


def run_args(server: EmulatorServer, recipe: Path) -> list[str]:
    args = ["run", str(recipe), "-y", "-j", "8", "--rpm", "6000"]
    return [*args, "--api-url", server.base_url, "--asset-url", server.asset_base_url]


def start_run(server: EmulatorServer, recipe: Path, *extra: str) -> subprocess.Popen[str]:
    # Requests an earlier test's run abandoned may still be answered: let them end first, so
    # that this run's are the ones counted in flight and charged. (The next run of the same
    # test need not wait: its own generations, as long, end after those.)
    deadline = time.monotonic() + 30
    while server.api.stats.in_flight:
        assert time.monotonic() < deadline, "the emulator never became idle"
        time.sleep(0.01)
    env = {**os.environ, "ONEMIN_API_KEY": KEY, "NO_COLOR": "1"}
    # stderr to a file, read while the run goes on (a pipe unread could fill and block it).
    with stderr_file(recipe).open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "runner", *run_args(server, recipe), *extra],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def stderr_file(recipe: Path) -> Path:
    return recipe.parent / "stderr.txt"


def wait_in_flight(server: EmulatorServer, proc: subprocess.Popen[str], count: int) -> None:
    deadline = time.monotonic() + 30
    while server.api.stats.in_flight < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the generations never got in flight"
        time.sleep(0.005)


def wait_said(proc: subprocess.Popen[str], recipe: Path, words: str) -> None:
    deadline = time.monotonic() + 30
    while words not in stderr_file(recipe).read_text():
        assert proc.poll() is None, stderr_file(recipe).read_text()
        assert time.monotonic() < deadline, f"the run never said {words!r}"
        time.sleep(0.005)


def finish(proc: subprocess.Popen[str], recipe: Path) -> tuple[int, str, str]:
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out, stderr_file(recipe).read_text()


def run_again(server: EmulatorServer, recipe: Path) -> tuple[int, str, str]:
    """The next run, on what the signalled one left: in this process (the signals were the
    child's; reading the folder it left is not about a process). All 12 jobs at once."""
    env = {"ONEMIN_API_KEY": KEY, "NO_COLOR": "1"}
    done = backdrop_in(REPO, *run_args(server, recipe), "-j", "12", env=env)
    return done.returncode, done.stdout, done.stderr


def statuses(recipe: Path) -> dict[str, int]:
    conn = sqlite3.connect(recipe.parent / "out" / "signals" / ".backdrop" / "state.db")
    try:
        rows = conn.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall()
    finally:
        conn.close()
    return dict(rows)


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGHUP", "SIGINT"],
)
def test_a_stop_signal_drains_the_generations_in_flight(server, recipe, signum, code):
    proc = start_run(server, recipe)  # once what earlier runs left was answered and charged
    charged = len(server.api.ledger.entries)
    wait_in_flight(server, proc, 8)
    proc.send_signal(signum)
    returncode, _, err = finish(proc, recipe)
    assert returncode == code, err
    assert len(server.api.ledger.entries) - charged == 8  # nothing paid for is left behind
    assert statuses(recipe) == {"done": 8, "pending": 4}  # no job started after the signal
    assert f"Interrupted by {signal.Signals(signum).name}" in err
    assert "Ctrl-C again stops at once" in err  # how to leave without waiting, and its cost
    assert "Traceback" not in err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_second_signal_abandons_the_requests_in_flight_and_the_next_run_names_them(
    server, recipe, signum
):
    proc = start_run(server, recipe)
    wait_in_flight(server, proc, 8)
    proc.send_signal(signum)
    wait_said(proc, recipe, STOPPING)  # the first signal was heard: it drains
    proc.send_signal(signum)
    returncode, _, err = finish(proc, recipe)
    assert returncode == 128 + signum, err
    assert f"Aborted ({signal.Signals(signum).name}, stopped at once)." in err
    assert "8 generations in flight abandoned: 1min.ai may charge them" in err
    assert "Traceback" not in err

    returncode, _, err = run_again(server, recipe)
    assert returncode == 0, err
    assert "warning: 8 generations sent by an earlier run never got an answer" in err
    assert "  season=a (sent 20" in err
    assert statuses(recipe) == {"done": 12}


def test_the_drain_timeout_bounds_the_wait(server, recipe):
    proc = start_run(server, recipe, "--drain-timeout", "0.1")
    wait_in_flight(server, proc, 8)
    proc.send_signal(signal.SIGTERM)
    returncode, _, err = finish(proc, recipe)
    assert returncode == 143, err
    assert "Aborted (SIGTERM, the drain timeout passed)." in err
    assert "8 generations in flight abandoned" in err


def test_kill_9_leaves_the_requests_in_flight_on_record(server, recipe):
    proc = start_run(server, recipe)
    wait_in_flight(server, proc, 8)
    proc.kill()
    finish(proc, recipe)
    returncode, _, err = run_again(server, recipe)
    assert returncode == 0, err
    assert "warning: 8 generations sent by an earlier run never got an answer" in err
    for season in SEASONS[:8]:
        assert f"  season={season} (sent " in err
