"""How a run ends when something other than the API goes wrong: an output file that cannot be
written, a full or read-only disk, an unreachable API, a broken state file, a bug in one job.
Only a second Ctrl-C escapes run_plan; everything else is a job's failure or the run's `fatal`."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from runner.diagnostics import StateError
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.execute import result_files, scheduler, steps
from runner.records.state import StateStore
from tests.runhelp import API_KEY, RecordingEvents, fast_options, ledger, make_plan, run


def _states(plan):
    with StateStore.open(plan.output_dir) as state:
        return state.job_states()


def test_a_file_in_the_way_fails_only_its_jobs_and_the_paid_results_come_later(tmp_path):
    plan = make_plan(tmp_path, seasons=("blk", "ok"))
    plan.output_dir.mkdir()
    (plan.output_dir / "blk").write_text("a plain file where a folder is needed")
    with EmulatorServer(EmulatorConfig(cache_results=True)) as server:
        first = run(plan, server)
        assert (first.done, first.failed, first.interrupted, first.fatal) == (2, 2, 0, None)
        messages = sorted(failure.message for failure in first.failures)
        assert messages == [
            "cannot write blk/CAP.png: Not a directory (blk is a file)",
            "cannot write blk/MUG.png: Not a directory (blk is a file)",
        ]
        assert "blk" in (first.failures[0].hint or "") and "disk" not in first.failures[0].hint
        # Paid and recorded: the answer is kept for the next run.
        failed = [job for job in plan.jobs if job.outputs[0].startswith("blk/")]
        states = _states(plan)
        assert all(states[job.key].generated for job in failed)
        assert len(ledger(server)) == 4

        (plan.output_dir / "blk").unlink()
        second = run(plan, server)
        assert (second.done, second.skipped, second.failed) == (2, 2, 0)
        assert len(ledger(server)) == 4  # downloaded from the recorded keys, not paid again
    assert all((plan.output_dir / job.outputs[0]).is_file() for job in plan.jobs)


def test_a_name_too_long_fails_only_its_jobs(tmp_path):
    plan = make_plan(tmp_path, products=("MUG",), seasons=("x" * 300, "ok"))
    with EmulatorServer(EmulatorConfig(cache_results=True)) as server:
        result = run(plan, server)
    assert (result.done, result.failed, result.fatal) == (1, 1, None)
    message = result.failures[0].message
    assert message.startswith("cannot write xxx") and message.endswith(": File name too long")


@pytest.mark.parametrize(
    ("code", "said"),
    [(errno.ENOSPC, "the disk holding {out} is full"),
     (errno.EROFS, "the output folder {out} is on a read-only file system")],
)  # fmt: skip
def test_a_full_or_read_only_disk_stops_the_run_without_raising(tmp_path, monkeypatch, code, said):
    def disk_gives_up(folder: Path) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(result_files, "fsync_dir", disk_gives_up)
    plan = make_plan(tmp_path)
    events = RecordingEvents()
    with EmulatorServer(EmulatorConfig(cache_results=True)) as server:
        result = run(plan, server, fast_options(concurrency=1), events=events)
        charged = len(ledger(server))
        assert result.fatal == said.format(out=plan.output_dir)
        assert ".backdrop" not in (result.fatal_hint or "")  # never: discard the paid record
        assert (result.done, result.failed, result.interrupted) == (0, 0, 6)
        assert len(events.started) == 1 and len(events.stopping) == 1
        assert charged == 1  # no new job was paid for after the disk gave up
        assert _states(plan)[plan.jobs[0].key].generated  # and that one is kept

        monkeypatch.undo()
        resumed = run(plan, server)
        assert resumed.done == 6 and len(ledger(server)) == 6


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:1", "http://someone:pa55word@127.0.0.1:1/"],
)
def test_an_api_that_cannot_be_reached_at_all_stops_the_run_once(tmp_path, base_url):
    from runner.execute.run_plan import run_plan

    plan = make_plan(tmp_path)
    events = RecordingEvents()
    result = run_plan(
        plan,
        fast_options(concurrency=2, max_attempts=3),
        api_key=API_KEY,
        base_url=base_url,
        asset_base_url="http://127.0.0.1:1",
        events=events,
        handle_sigint=False,
    )
    assert result.fatal == "cannot reach the API at http://127.0.0.1:1 (connection refused)"
    hint = result.fatal_hint or ""
    assert "--api-url" in hint and "ONEMIN_API_URL" in hint and "network" in hint
    assert (result.done, result.failed, result.interrupted) == (0, 0, 6)
    assert len(events.started) <= 2  # the two workers' first jobs; nothing new after
    assert len(events.stopping) == 1
    assert "pa55word" not in repr(result) and "pa55word" not in repr(events.__dict__)


def test_once_the_api_answered_a_lost_connection_fails_jobs_but_does_not_stop_the_run(tmp_path):
    plan = make_plan(tmp_path)
    server = EmulatorServer(EmulatorConfig(cache_results=True))

    def take_the_api_down(label: str, status: str) -> None:
        if status == "done":
            server.stop()  # from now on: connection refused

    events = RecordingEvents(on_finish=take_the_api_down)
    with server:
        result = run(plan, server, fast_options(concurrency=1, max_attempts=2), events=events)
    assert result.fatal is None and not events.stopping
    assert (result.done, result.failed, result.interrupted) == (1, 5, 0)


def test_a_bug_in_one_job_fails_that_job_and_the_others_go_on(tmp_path, monkeypatch):
    real = steps.RunContext.download_all

    async def buggy(self, job, result_keys, temporary_url):
        if job.vars["product"] == "CAP":
            raise KeyError("surprise")
        return await real(self, job, result_keys, temporary_url)

    monkeypatch.setattr(steps.RunContext, "download_all", buggy)
    plan = make_plan(tmp_path, seasons=("a", "b"))
    with EmulatorServer(EmulatorConfig(cache_results=True)) as server:
        result = run(plan, server)
    assert (result.done, result.failed, result.interrupted, result.fatal) == (2, 2, 0, None)
    assert {f.message for f in result.failures} == {"internal error: KeyError: 'surprise'"}
    assert all(f.vars["product"] == "CAP" for f in result.failures)


def test_a_bug_in_every_job_stops_the_run_before_it_spends_on_all_of_them(tmp_path, monkeypatch):
    async def buggy(self, job, result_keys, temporary_url):
        raise RuntimeError("always")

    monkeypatch.setattr(steps.RunContext, "download_all", buggy)
    plan = make_plan(tmp_path)
    with EmulatorServer(EmulatorConfig(cache_results=True)) as server:
        result = run(plan, server, fast_options(concurrency=1))
        charged = len(ledger(server))
    limit = scheduler.MAX_INTERNAL_ERRORS
    assert (result.failed, result.interrupted, charged) == (limit, 6 - limit, limit)
    assert result.fatal is not None and "internal error" in result.fatal
    assert "bug" in (result.fatal_hint or "")


def test_a_state_file_that_cannot_be_written_stops_the_run_without_raising(tmp_path, monkeypatch):
    def broken(self, key, duration_s=None):
        raise StateError("cannot update the state file (disk I/O error)", "check the disk")

    monkeypatch.setattr(StateStore, "mark_done", broken)
    plan = make_plan(tmp_path)
    with EmulatorServer(EmulatorConfig(cache_results=True)) as server:
        result = run(plan, server, fast_options(concurrency=1))
    assert result.fatal == "cannot update the state file (disk I/O error)"
    assert result.fatal_hint == "check the disk"
    assert (result.done, result.interrupted) == (0, 6)
