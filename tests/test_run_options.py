"""RunOptions refuse nonsense with a usage error, before anything is spent."""

from __future__ import annotations

import pytest

from runner.diagnostics import EXIT_USAGE, UsageError
from runner.execute.run import RunOptions, new_run_id


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"concurrency": 0}, "--concurrency 0"),
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
    assert (options.concurrency, options.rpm, options.max_attempts) == (16, 180, 5)
    assert options.max_download_bytes == 64 * 1024 * 1024


def test_run_ids_are_unique_and_sortable_by_time():
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i.split("-")[0]) == 16 and i[8] == "T" for i in ids)
