"""The state store: real SQLite files, real processes killed with SIGKILL."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runner.diagnostics import EXIT_USAGE, StateError
from runner.recipe.model import DEFAULT_PRICES, PriceTable
from runner.records.run_records import FileRecord
from runner.records.state import StateStore
from tests.platforms import WINDOWS
from tests.statehelp import make_job, make_plan

REPO = Path(__file__).resolve().parents[1]


def _file(path: str, fill: str = "a") -> FileRecord:
    return FileRecord(path=path, sha256=fill * 64, width=1024, height=1024, bytes=1234)


def test_open_creates_the_state_in_wal_mode_with_a_schema_version(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with StateStore.open(out) as store:
        assert store.path == out / ".backdrop" / "state.db"
    conn = sqlite3.connect(out / ".backdrop" / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


def test_a_new_run_records_the_plan_in_order(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 4, n=2)
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-1")
        snap = store.snapshot()
    assert snap.run_id == "run-1"
    assert snap.recipe_name == "demo"
    assert snap.axes == ("product", "season")
    assert (snap.report_rows, snap.report_columns) == ("product", "season")
    assert snap.estimated_cost_usd == 0  # nothing generated yet: the run's cost is what it made
    assert snap.finished_at is None
    assert [j.key for j in snap.jobs] == [j.key for j in plan.jobs]
    first = snap.jobs[0]
    assert first.status == "pending"
    assert first.vars == {"product": "P0", "season": "summer"}
    assert first.prompt_object == plan.jobs[0].prompt_object.to_json()
    assert "imageUrl" not in first.prompt_object
    assert first.outputs == ("summer/P0-0.png", "summer/P0-1.png")
    assert first.image_path == "/src/images/mug.png"
    assert snap.totals()["pending"] == 4


def test_a_runs_cost_is_what_it_generated_each_answer_once(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 3)
    first, second, _ = (job.key for job in plan.jobs)
    one_job = plan.cost().total_usd / 3
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-1")
        store.record_generation(first, "uuid-1", ["images/a.png"], None, 990)
        store.record_generation(first, "uuid-1", ["images/a.png"], None, 990)  # the same answer
        store.record_generation(second, "uuid-2", [], None, 990)  # no result: not charged
        store.mark_failed(second, "refused")
        assert store.run_cost_usd == store.snapshot().estimated_cost_usd == round(one_job, 4)
        store.begin_run(plan, "run-2")  # the next run starts from nothing
        assert store.run_cost_usd == store.snapshot().estimated_cost_usd == 0


def test_a_job_goes_from_attempt_to_generation_to_files_to_done(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 2)
    key = plan.jobs[0].key
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-1")
        store.mark_sent(key)
        store.mark_sent(key)
        store.record_generation(key, "uuid-1", ["images/a.png"], "https://x/a.png?sig", 990)
        state = store.job_states([key])[key]
        assert state.status == "generated"
        assert state.generated
        assert state.result_keys == ("images/a.png",)
        assert state.temporary_url == "https://x/a.png?sig"
        assert state.attempts == 2
        store.record_file(key, 0, _file("summer/P0-0.png"))
        store.mark_done(key, 12.5)
        store.finish_run("run-1")
        snap = store.snapshot()
    job = snap.jobs[0]
    assert job.status == "done"
    assert job.record_uuid == "uuid-1"
    assert job.files == (_file("summer/P0-0.png"),)
    assert job.duration_s == 12.5
    assert snap.finished_at is not None
    assert snap.totals() == {
        "jobs": 2, "done": 1, "failed": 0, "pending": 1, "images": 1
    }  # fmt: skip


def test_a_second_run_keeps_done_jobs_done(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 3)
    done = plan.jobs[0].key
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-1")
        store.record_generation(done, "u0", ["images/0.png"], None, None)
        store.record_file(done, 0, _file("summer/P0-0.png"))
        store.mark_done(done, 1.0)
        store.finish_run("run-1")
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-2")
        assert store.job_states([done])[done].status == "done"
        assert store.job_states([done])[done].files == (_file("summer/P0-0.png"),)
        snap = store.snapshot()
    assert snap.run_id == "run-2"
    # The snapshot tells the folder: a job done by an earlier run is done, not "skipped".
    assert [j.status for j in snap.jobs] == ["done", "pending", "pending"]


def test_each_run_records_its_recipe_prices_for_the_reports(tmp_path: Path) -> None:
    plan = dataclasses.replace(
        make_plan(tmp_path, 1),
        prices=PriceTable(square={"low": 0.5}, non_square={"low": 0.75}),
    )
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-1")
    assert StateStore.read_snapshot(tmp_path).prices == plan.prices


@pytest.mark.parametrize(
    "recorded",
    [None, "not json", '{"square": {"low": -1}, "non_square": {}}', '{"square": {"low": "1"}}'],
)
def test_a_state_without_usable_prices_reads_the_list_prices(tmp_path: Path, recorded) -> None:
    """A state whose prices are missing or not prices (a state file can be committed by
    anyone)."""
    with StateStore.open(tmp_path) as store:
        store.begin_run(make_plan(tmp_path, 1), "run-1")
    conn = sqlite3.connect(tmp_path / ".backdrop" / "state.db")
    conn.execute("UPDATE runs SET prices = ?", (recorded,))
    conn.commit()
    conn.close()
    assert StateStore.read_snapshot(tmp_path).prices == DEFAULT_PRICES


def test_a_changed_prompt_makes_new_jobs_and_leaves_old_ones_out_of_the_snapshot(
    tmp_path: Path,
) -> None:
    old = make_plan(tmp_path, 2, prompt="a beach")
    new = make_plan(tmp_path, 2, prompt="a forest")
    with StateStore.open(tmp_path) as store:
        store.begin_run(old, "run-1")
        store.record_generation(old.jobs[0].key, "u", ["k"], None, None)
        store.mark_done(old.jobs[0].key)
        store.begin_run(new, "run-2")
        snap = store.snapshot()
        assert (
            store.job_states([old.jobs[0].key])[old.jobs[0].key].status == "done"
        )  # still remembered
    assert [j.key for j in snap.jobs] == [j.key for j in new.jobs]
    assert {j.status for j in snap.jobs} == {"pending"}


def test_regenerating_a_job_forgets_its_old_files(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 1)
    key = plan.jobs[0].key
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-1")
        store.record_generation(key, "u1", ["old.png"], None, None)
        store.record_file(key, 0, _file("summer/P0-0.png", "a"))
        store.mark_done(key)
        store.record_generation(key, "u2", ["new.png"], None, 5)
        state = store.job_states([key])[key]
    assert state.status == "generated"
    assert state.record_uuid == "u2"
    assert state.result_keys == ("new.png",)
    assert state.files == ()


def test_a_failure_after_generation_keeps_the_paid_result_keys(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 3)
    a, b, c = (job.key for job in plan.jobs)
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-1")
        store.record_generation(b, "ub", ["images/b.png"], None, None)
        store.mark_failed(c, "the API refused the request (HTTP 400): bad prompt", 0.5)
        store.mark_failed(b, "the download of images/b.png was cut short", 3.0)
        store.finish_run("run-1")
        assert store.failed_keys() == (b, c)
        state = store.job_states([b])[b]
        snap = store.snapshot()
    assert state.status == "failed"
    assert state.generated and state.result_keys == ("images/b.png",)
    assert snap.jobs[2].error == "the API refused the request (HTTP 400): bad prompt"
    assert snap.totals()["failed"] == 2
    assert a not in store_failed_after_reopen(tmp_path)


def store_failed_after_reopen(out: Path) -> tuple[str, ...]:
    with StateStore.open(out) as store:
        return store.failed_keys()


def test_job_states_reads_many_jobs_at_once(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 3, n=2)
    key = plan.jobs[1].key
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-1")
        store.record_generation(key, "u", ["r0", "r1"], None, None)
        store.record_file(key, 1, _file("summer/P1-1.png", "b"))
        store.record_file(key, 0, _file("summer/P1-0.png", "c"))
        states = store.job_states([j.key for j in plan.jobs])
        everything = store.job_states()
    assert list(states) == [j.key for j in plan.jobs]
    assert states[key].files == (_file("summer/P1-0.png", "c"), _file("summer/P1-1.png", "b"))
    assert states[plan.jobs[0].key].status == "pending"
    assert everything == states


def test_uploaded_assets_are_remembered_across_opens(tmp_path: Path) -> None:
    with StateStore.open(tmp_path) as store:
        assert store.asset_key("f" * 64) is None
        store.record_asset("f" * 64, "images/2024_x.png")
    with StateStore.open(tmp_path) as store:
        assert store.asset_key("f" * 64) == "images/2024_x.png"


def test_unknown_jobs_and_duplicate_runs_are_refused(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 1)
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-1")
        with pytest.raises(StateError, match="not in the recorded plan"):
            store.mark_done("nope")
        with pytest.raises(StateError, match="not in the recorded plan"):
            store.record_generation("nope", "u", ["k"], None, None)
        assert store.job_states(["nope"]) == {}
        with pytest.raises(StateError, match="already recorded"):
            store.begin_run(plan, "run-1")
        assert store.snapshot().run_id == "run-1"


def test_read_snapshot_is_read_only_and_sees_a_live_writer(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, 2)
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-1")
        store.mark_done(plan.jobs[1].key, 2.0)
        snap = StateStore.read_snapshot(tmp_path)
        assert [j.status for j in snap.jobs] == ["pending", "done"]
        assert snap == store.snapshot()


def test_read_snapshot_without_a_run_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StateError) as err:
        StateStore.read_snapshot(tmp_path / "out")
    assert err.value.message == (
        f"no run recorded in {tmp_path / 'out'}: no run has written to it yet; "
        "run `backdrop run RECIPE` first"
    )
    assert err.value.exit_code == EXIT_USAGE  # a wrong folder, not a run that stopped
    assert not (tmp_path / "out").exists()
    with StateStore.open(tmp_path / "out"):
        pass
    with pytest.raises(StateError, match="no run recorded"):
        StateStore.read_snapshot(tmp_path / "out")


def test_a_damaged_state_file_is_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / ".backdrop" / "state.db"
    db.parent.mkdir()
    db.write_bytes(b"this is not a database, just some bytes " * 200)
    with pytest.raises(StateError) as err:
        StateStore.open(tmp_path)
    assert "the state is damaged" in err.value.message
    assert ".backdrop" in (err.value.hint or "")
    with pytest.raises(StateError, match="the state is damaged"):
        StateStore.read_snapshot(tmp_path)


def test_a_state_from_a_newer_backdrop_is_refused(tmp_path: Path) -> None:
    with StateStore.open(tmp_path):
        pass
    conn = sqlite3.connect(tmp_path / ".backdrop" / "state.db")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="newer backdrop"):
        StateStore.open(tmp_path)


def test_vars_that_are_not_json_types_are_stored_as_text(tmp_path: Path) -> None:
    import datetime
    from dataclasses import replace

    job = replace(make_job(0), vars={"launch": datetime.date(2024, 5, 1), "n": 3})
    plan = replace(make_plan(tmp_path, 1), jobs=(job,))
    with StateStore.open(tmp_path) as store:
        store.begin_run(plan, "run-1")
        assert store.snapshot().jobs[0].vars == {"launch": "2024-05-01", "n": 3}


_CRASH_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from runner.records.run_records import FileRecord
    from runner.records.state import StateStore
    from tests.statehelp import make_plan

    out = Path(sys.argv[1])
    plan = make_plan(out, 400)
    store = StateStore.open(out)
    store.begin_run(plan, "run-1")
    rounds = 0
    while True:  # keep writing every kind of record until killed
        for job in plan.jobs:
            store.mark_sent(job.key)
            store.record_generation(job.key, f"u-{job.key}-{rounds}", [f"r/{job.key}.png"], None, 7)
            print(job.key, rounds, flush=True)
            store.record_file(job.key, 0, FileRecord(job.outputs[0], "a" * 64, 8, 8, 10))
            if job.index % 2:
                store.mark_done(job.key, 0.1)
            else:
                store.mark_failed(job.key, "download cut short", 0.1)
        rounds += 1
    """
)


@pytest.mark.parametrize("kill_after", [1, 57, 450])
def test_a_sigkilled_writer_loses_no_recorded_generation(tmp_path: Path, kill_after: int) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_CRASH_WRITER)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    recorded: dict[str, int] = {}
    with subprocess.Popen(
        [sys.executable, str(script), str(out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        try:
            for _ in range(kill_after):
                line = proc.stdout.readline()
                assert line, "the writer stopped early"
                key, count = line.split()
                recorded[key] = int(count)
        finally:
            proc.kill()  # SIGKILL; TerminateProcess on Windows
            proc.wait()
    assert proc.returncode == (1 if WINDOWS else -signal.SIGKILL)

    with StateStore.open(out) as store:
        states = store.job_states()
        snap = store.snapshot()
    assert len(snap.jobs) == 400
    for key, rounds in recorded.items():
        state = states[key]
        # Printed only after record_generation returned: it must have survived the kill.
        assert state.status in ("generated", "done", "failed")
        assert state.generated
        assert state.result_keys == (f"r/{key}.png",)
        assert state.record_uuid is not None
        assert int(state.record_uuid.rsplit("-", 1)[1]) >= rounds
    conn = sqlite3.connect(out / ".backdrop" / "state.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
