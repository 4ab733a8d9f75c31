"""--only, --limit, --shard, --retry-failed and --force, run against the emulator."""

from __future__ import annotations

import pytest

from runner.diagnostics import UsageError
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.execute.selection import Selection, Shard
from runner.records.state import StateStore
from tests.runhelp import charged_prompts, fast_options, ledger, make_plan, run


@pytest.fixture(scope="module")
def server():
    with EmulatorServer(EmulatorConfig(cache_results=True, seed=8)) as running:
        yield running


def test_only_runs_the_matching_jobs(tmp_path, server):
    plan = make_plan(tmp_path)
    before = len(ledger(server))
    selection = Selection.from_cli(["season=spring", "season=winter", "product=CAP"])
    result = run(plan, server, fast_options(selection=selection))
    assert (result.jobs, result.done) == (2, 2)
    assert sorted(charged_prompts(server)[before:]) == [
        "CAP on a spring beach",
        "CAP on a winter beach",
    ]
    # The state still knows the whole plan; the others are simply not run yet.
    statuses = sorted(job.status for job in StateStore.read_snapshot(plan.output_dir).jobs)
    assert statuses == ["done", "done", "pending", "pending", "pending", "pending"]


def test_only_with_a_nested_value_and_a_typo(tmp_path, server):
    plan = make_plan(tmp_path)
    with pytest.raises(UsageError, match=r"did you mean 'market\.code'"):
        run(plan, server, fast_options(selection=Selection.from_cli(["market.cod=fr-FR"])))
    result = run(plan, server, fast_options(selection=Selection.from_cli(["market.code=fr-FR"])))
    assert result.done == 6


def test_limit_is_a_cheap_trial_of_the_first_jobs(tmp_path, server):
    plan = make_plan(tmp_path)
    before = len(ledger(server))
    result = run(plan, server, fast_options(selection=Selection(limit=2)))
    assert (result.jobs, result.done) == (2, 2)
    assert sorted(charged_prompts(server)[before:]) == sorted(
        job.prompt_object.prompt for job in plan.jobs[:2]
    )


def test_shards_split_the_work_without_overlap(tmp_path, server):
    plan = make_plan(tmp_path, products=("MUG", "CAP", "BAG"), seasons=("a", "b", "c", "d"))
    before = len(ledger(server))
    done = 0
    for k in (1, 2, 3):
        result = run(plan, server, fast_options(selection=Selection(shard=Shard(k, 3))))
        done += result.done
    assert done == 12
    prompts = charged_prompts(server)[before:]
    assert len(prompts) == 12 and len(set(prompts)) == 12


def test_retry_failed_runs_only_what_failed_last_time(tmp_path, server):
    plan = make_plan(tmp_path)
    cap = tmp_path / "images" / "cap.png"
    original = cap.read_bytes()
    cap.write_bytes(b"being edited")
    first = run(plan, server)
    assert (first.done, first.failed) == (3, 3)

    cap.write_bytes(original)
    before = len(ledger(server))
    retried = run(plan, server, fast_options(retry_failed=True))
    assert (retried.jobs, retried.done) == (3, 3)
    assert sorted(charged_prompts(server)[before:]) == sorted(
        j.prompt_object.prompt for j in plan.jobs if j.vars["product"] == "CAP"
    )
    nothing = run(plan, server, fast_options(retry_failed=True))
    assert nothing.jobs == 0 and nothing.ok


def test_force_generates_everything_again(tmp_path, server):
    plan = make_plan(tmp_path)
    run(plan, server)
    before = len(ledger(server))
    result = run(plan, server, fast_options(force=True))
    assert (result.done, result.skipped) == (6, 0)
    assert len(ledger(server)) - before == 6
