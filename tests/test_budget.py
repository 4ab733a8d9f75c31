"""A recipe's `budget:`: run refuses work past it (counting what the state says was spent)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runner.execute.budget import spent_usd
from runner.recipe.model import DEFAULT_PRICES
from runner.records.state import STATE_FILE
from runner.records.state_folder import STATE_DIR
from tests.clihelp import run_cli
from tests.deliverhelp import write_campaign
from tests.disks import remount_read_only, tmpfs

LOW = DEFAULT_PRICES.price("low", "1024x1024")


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    # Four jobs at LOW each; the budget fits three.
    return write_campaign(tmp_path / "campaign", extra=f"budget: {LOW * 3:.3f}\n")


def test_run_refuses_past_the_budget_and_says_what_fits(recipe, capsys):
    result = run_cli(capsys, "run", str(recipe), "--emulate", "-y")
    assert result.code == 2
    over = 4 * LOW - 3 * LOW
    assert f"past its budget of ${3 * LOW:,.2f} by ${over:,.2f}" in result.err
    assert "--limit 3" in result.err
    assert "--only market.code=fr-FR" in result.err
    assert not (recipe.parent / "out").exists() or spent_usd(
        recipe.parent / "out" / "deliver-test", DEFAULT_PRICES
    ) == pytest.approx(0)


def test_spend_already_recorded_counts_against_the_budget(recipe, capsys):
    out = recipe.parent / "out" / "deliver-test"
    first = run_cli(capsys, "run", str(recipe), "--emulate", "-y", "--limit", "2")
    assert first.code == 0, first.err
    assert "Budget:" in first.out
    assert spent_usd(out, DEFAULT_PRICES) == pytest.approx(2 * LOW)

    plan = run_cli(capsys, "plan", str(recipe))
    assert f"spent so far ${2 * LOW:,.2f}" in plan.out
    assert f"${LOW:,.2f} left" in plan.out
    assert f"the rest of this plan ${2 * LOW:,.2f}: ${LOW:,.2f} over" in plan.out

    refused = run_cli(capsys, "run", str(recipe), "--emulate", "-y")
    assert refused.code == 2
    assert f"by ${LOW:,.2f} (${2 * LOW:,.2f} already spent" in refused.err
    assert "--limit 3" in refused.err  # the first three: two up to date, one to generate
    assert spent_usd(out, DEFAULT_PRICES) == pytest.approx(2 * LOW)

    fits = run_cli(capsys, "run", str(recipe), "--emulate", "-y", "--limit", "3")
    assert fits.code == 0, fits.err
    assert spent_usd(out, DEFAULT_PRICES) == pytest.approx(3 * LOW)


def test_forced_regenerations_count_as_spent_and_stop_at_the_budget(recipe, capsys):
    out = recipe.parent / "out" / "deliver-test"
    args = ("run", str(recipe), "--emulate", "-y", "--limit", "1")
    assert run_cli(capsys, *args).code == 0
    for paid in (2, 3):  # each --force pays again for the same job
        forced = run_cli(capsys, *args, "--force")
        assert forced.code == 0, forced.err
        assert spent_usd(out, DEFAULT_PRICES) == pytest.approx(paid * LOW)
    plan = run_cli(capsys, "plan", str(recipe))
    assert f"spent so far ${3 * LOW:,.2f}" in plan.out
    refused = run_cli(capsys, *args, "--force")
    assert refused.code == 2
    assert f"(${3 * LOW:,.2f} already spent, ${LOW:,.2f} for this run)" in refused.err


def test_a_generation_sent_but_never_answered_counts_as_maybe_spent(recipe, capsys):
    out = recipe.parent / "out" / "deliver-test"
    args = ("run", str(recipe), "--emulate", "-y", "--limit", "1")
    assert run_cli(capsys, *args).code == 0
    with sqlite3.connect(out / STATE_DIR / STATE_FILE) as conn:  # as a run killed mid-call left it
        key = conn.execute("SELECT key FROM jobs ORDER BY idx LIMIT 1 OFFSET 1").fetchone()[0]
        conn.execute(
            "INSERT INTO sent_requests (job_key, run_id, sent_at) VALUES (?, 'dead', '2026')",
            (key,),
        )
    conn.close()
    assert spent_usd(out, DEFAULT_PRICES) == pytest.approx(2 * LOW)
    again = run_cli(capsys, *args)  # reports it as maybe charged, then forgets the row
    assert again.code == 0, again.err
    with sqlite3.connect(out / STATE_DIR / STATE_FILE) as conn:
        assert conn.execute("SELECT COUNT(*) FROM sent_requests").fetchone() == (0,)
    conn.close()
    assert spent_usd(out, DEFAULT_PRICES) == pytest.approx(2 * LOW)  # kept in the ledger


def test_plan_reads_the_spend_of_a_read_only_folder(recipe, tmp_path, capsys):
    with tmpfs(tmp_path / "disk", "8m") as disk:
        out = disk / "out"
        args = ("--emulate", "-y", "-o", str(out))
        assert run_cli(capsys, "run", str(recipe), *args, "--limit", "1").code == 0
        assert run_cli(capsys, "run", str(recipe), *args, "--limit", "1", "--force").code == 0
        remount_read_only(disk)
        plan = run_cli(capsys, "plan", str(recipe), "-o", str(out))
    assert plan.code == 0, plan.err
    assert f"spent so far ${2 * LOW:,.2f}" in plan.out  # the forced-over generation too


@pytest.mark.parametrize("budget", ["-5", "0"])
def test_a_budget_must_be_a_positive_number(tmp_path, capsys, budget):
    recipe = write_campaign(tmp_path, extra=f"budget: {budget}\n")
    result = run_cli(capsys, "validate", str(recipe))
    assert result.code == 2
    assert f"budget: {budget} is too low: it must be above 0" in result.out + result.err
