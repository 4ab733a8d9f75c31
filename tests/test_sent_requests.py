"""Generations are on record as sent before they go; only an answer (or a refusal) clears that."""

from __future__ import annotations

from pathlib import Path

from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.execute.state import StateStore
from tests.runhelp import fast_options, ledger, make_plan, run


def test_a_charged_answer_that_never_arrived_is_named_by_the_next_run(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring", "summer"))
    # Every generation is charged, then answered 504: the client can never know it was paid.
    with EmulatorServer(EmulatorConfig(charge_then_fail_rate=1.0, cache_results=True)) as server:
        first = run(plan, server, fast_options(max_attempts=2))
        assert first.failed == 2 and len(ledger(server)) == 4
    assert StateStore.count_unanswered(plan.output_dir) == 2

    with EmulatorServer(EmulatorConfig(cache_results=True)) as server:
        second = run(plan, server)
    assert second.done == 2
    assert sorted(request.label for request in second.unanswered) == [
        "product=MUG season=spring",
        "product=MUG season=summer",
    ]
    assert second.unanswered[0].vars["product"] == "MUG"
    assert StateStore.count_unanswered(plan.output_dir) == 0  # told once, then forgotten


def test_answered_and_refused_generations_leave_nothing_unanswered(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring", "summer"))
    with EmulatorServer(EmulatorConfig(cache_results=True, credit_limit=1000)) as server:
        result = run(plan, server, fast_options(concurrency=1))
    # One answered (and paid), then the credits ran out: a refusal, not charged.
    assert result.done == 1 and result.fatal is not None
    assert StateStore.count_unanswered(plan.output_dir) == 0
