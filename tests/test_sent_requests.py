"""Generations are on record as sent before they go; only an answer (or a refusal) clears that."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.recipe.model import DEFAULT_PRICES
from runner.records.spend import campaign_spend
from runner.records.state import StateStore
from tests.runhelp import fast_options, ledger, make_plan, run

LOW = DEFAULT_PRICES.price("low", "1024x1024")


def test_a_charged_answer_that_never_arrived_is_on_record_as_maybe_charged(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring", "summer"))
    # Every generation is charged, then answered 504: the client can never know it was paid.
    with EmulatorServer(EmulatorConfig(charge_then_fail_rate=1.0, cache_results=True)) as server:
        first = run(plan, server, fast_options(max_attempts=2))
        assert first.failed == 2 and len(ledger(server)) == 4
    # Each attempt is on record as maybe charged as soon as it got no answer, and told in this
    # run's summary (it used to be named only by the next run, and only the last attempt).
    assert sorted(request.label for request in first.maybe_charged) == [
        "product=MUG season=spring",
        "product=MUG season=spring",
        "product=MUG season=summer",
        "product=MUG season=summer",
    ]
    assert first.maybe_charged[0].vars["product"] == "MUG"
    assert first.maybe_charged_usd == pytest.approx(4 * LOW)
    assert StateStore.count_unanswered(plan.output_dir) == 0  # nothing left in flight
    spend = campaign_spend(plan.output_dir, plan.prices)
    assert (spend.generations, spend.maybe_charged) == (0, 4)

    with EmulatorServer(EmulatorConfig(cache_results=True)) as server:
        second = run(plan, server)
    assert second.done == 2 and second.unanswered == () and second.maybe_charged == ()
    spend = campaign_spend(plan.output_dir, plan.prices)
    assert (spend.generations, spend.maybe_charged) == (2, 4)  # the maybe charged stay counted


def test_answered_and_refused_generations_leave_nothing_unanswered(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring", "summer"))
    with EmulatorServer(EmulatorConfig(cache_results=True, credit_limit=1000)) as server:
        result = run(plan, server, fast_options(concurrency=1))
    # One answered (and paid), then the credits ran out: a refusal, not charged.
    assert result.done == 1 and result.fatal is not None
    assert StateStore.count_unanswered(plan.output_dir) == 0
