"""RunOptions refuse nonsense with a usage error, before anything is spent."""

from __future__ import annotations

import pytest

from runner.diagnostics import EXIT_USAGE, UsageError
from runner.execute.pacing import MAX_IN_FLIGHT
from runner.execute.run_options import RunOptions
from runner.execute.run_plan import new_run_id
from runner.execute.selection import Selection
from tests.clihelp import run_cli


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"concurrency": 0}, "--concurrency 0"),
        ({"concurrency": 513}, "--concurrency 513"),
        ({"rpm": 0}, "--rpm 0"),
        ({"rpm": -5}, "--rpm -5"),
        ({"max_attempts": 0}, "--max-attempts 0"),
    ],
)
def test_bad_options_are_usage_errors(changes, flag):
    with pytest.raises(UsageError) as info:
        RunOptions(**changes)
    assert info.value.message.startswith(flag)
    assert info.value.exit_code == EXIT_USAGE


def test_defaults_follow_the_documented_api_limits():
    options = RunOptions()
    assert (options.requests_per_minute, options.max_attempts) == (180, 5)
    assert options.concurrency is None  # auto: as many as rate x latency calls for
    assert options.max_in_flight == MAX_IN_FLIGHT == 512
    assert options.max_download_bytes == 64 * 1024 * 1024


@pytest.mark.parametrize(
    ("shard", "rpm", "expected"), [("1/4", None, 45), ("2/3", None, 60), ("1/4", 100, 100)]
)
def test_shards_share_the_account_rate_unless_rpm_is_given(shard, rpm, expected):
    options = RunOptions(rpm=rpm, selection=Selection.from_cli(shard=shard))
    assert options.requests_per_minute == expected


def test_run_ids_are_unique_and_sortable_by_time():
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i.split("-")[0]) == 16 and i[8] == "T" for i in ids)


def test_run_help_says_the_defaults_for_speed(capsys):
    result = run_cli(capsys, "run", "--help")
    assert result.code == 0
    text = " ".join(result.out.split())
    assert "[default: (auto)" in text  # --concurrency: a ceiling, automatic unless given
    assert "[default: (180, or 180/N with --shard K/N)" in text
    assert "Shards share one account" in text


def test_concurrency_takes_auto_or_a_ceiling(capsys, tmp_path):
    missing = str(tmp_path / "missing.yaml")
    auto = run_cli(capsys, "run", missing, "--concurrency", "auto")
    assert "file not found" in auto.err  # the option was accepted; the recipe is what is missing
    zero = run_cli(capsys, "run", missing, "--concurrency", "0")
    assert zero.code == EXIT_USAGE and "1<=x<=512" in zero.err
