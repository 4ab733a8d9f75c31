"""Ctrl-C during `run_plan`, in a child process (a real SIGINT must not reach pytest itself)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner.records.state import StateStore
from tests.platforms import posix_only

# os.kill(pid, SIGINT) ends a process there; tests/test_portable.py covers Ctrl-C on Windows.
pytestmark = posix_only("SIGINT to send to a process")

_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, threading, time
    from pathlib import Path
    from runner.emulator.config import EmulatorConfig
    from runner.emulator.server import EmulatorServer
    from runner.execute.run_plan import run_plan
    from tests.runhelp import API_KEY, fast_options, make_plan

    presses = int(sys.argv[2])
    plan = make_plan(Path(sys.argv[1]), products=("A", "B", "C"), seasons=("1", "2", "3", "4"))
    with EmulatorServer(EmulatorConfig(cache_results=True, latency=0.5)) as server:
        def press_ctrl_c() -> None:
            deadline = time.monotonic() + 30
            while server.api.stats.in_flight < 3:  # three generations are being paid for
                if time.monotonic() > deadline:
                    os._exit(99)  # never in flight: fail the test instead of hanging it
                time.sleep(0.005)
            for _ in range(presses):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        try:
            result = run_plan(
                plan, fast_options(concurrency=3), api_key=API_KEY,
                base_url=server.base_url, asset_base_url=server.asset_base_url,
            )
        except KeyboardInterrupt:
            print(json.dumps({"outcome": "KeyboardInterrupt"}))
        else:
            print(json.dumps({
                "outcome": "returned", "done": result.done,
                "interrupted": result.interrupted, "stopped": result.stopped,
                "charged": len(server.api.ledger.entries),
            }))
    """
)


def _run_child(tmp_path: Path, presses: int) -> dict[str, object]:
    root = Path(__file__).resolve().parent.parent
    answer = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path), str(presses)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr
    report: dict[str, object] = json.loads(answer.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.slow
def test_the_first_ctrl_c_finishes_and_saves_the_requests_in_flight(tmp_path):
    report = _run_child(tmp_path, presses=1)
    assert report == {
        "outcome": "returned",
        "done": 3,
        "interrupted": 9,
        "stopped": True,
        "charged": 3,
    }
    snapshot = StateStore.read_snapshot(tmp_path / "out")
    done = [job for job in snapshot.jobs if job.status == "done"]
    assert len(done) == 3
    assert all((tmp_path / "out" / job.files[0].path).is_file() for job in done)


@pytest.mark.slow
def test_a_second_ctrl_c_exits_at_once_and_the_state_stays_usable(tmp_path):
    report = _run_child(tmp_path, presses=2)
    assert report == {"outcome": "KeyboardInterrupt"}
    snapshot = StateStore.read_snapshot(tmp_path / "out")
    assert len(snapshot.jobs) == 12
    assert {job.status for job in snapshot.jobs} <= {"pending", "generated", "done"}
    assert not list((tmp_path / "out").rglob("*.png"))  # nothing half-written at an output path
