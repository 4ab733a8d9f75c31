"""The one retry policy (RunContext._retrying): a 429 is retried until the run has waited out a
per-minute window, other transient failures give up at --max-attempts."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from runner.api.errors import RateLimited, RetryableError, TransientError
from runner.execute.backoff import Backoff
from runner.execute.steps import RATE_LIMIT_PATIENCE_S, RunContext
from tests.runhelp import RecordingEvents


class MaxRandom(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


def context(max_attempts: int) -> RunContext:
    unused: Any = None  # _retrying touches only the backoff, the events and max_attempts
    return RunContext(
        client=unused,
        state=unused,
        events=RecordingEvents(),
        pacer=unused,
        backoff=Backoff(base=1.0, cap=60.0, rng=MaxRandom()),
        stop=asyncio.Event(),
        output_dir=Path("."),
        max_attempts=max_attempts,
        max_download_bytes=1,
    )


def retry(ctx: RunContext, failures: list[RetryableError]) -> tuple[str, list[float]]:
    """Run _retrying over an attempt that raises `failures` in turn, then succeeds."""
    slept: list[float] = []
    pending = list(failures)

    async def attempt() -> str:
        if pending:
            raise pending.pop(0)
        return "ok"

    async def pause(seconds: float) -> None:
        slept.append(seconds)

    return asyncio.run(ctx._retrying("job", attempt, pause)), slept


def refused() -> RateLimited:
    return RateLimited("too many requests (HTTP 429)")  # no Retry-After


def test_a_429_without_retry_after_is_retried_past_max_attempts_for_a_minute() -> None:
    # A fixed per-minute window refuses for up to 60 s: 5 quick tries would all land in it.
    result, slept = retry(context(max_attempts=3), [refused() for _ in range(7)])
    assert result == "ok"
    assert len(slept) == 7 and sum(slept[:-1]) < RATE_LIMIT_PATIENCE_S <= sum(slept)


def test_a_429_gives_up_once_it_has_waited_a_minute() -> None:
    with pytest.raises(RateLimited, match=r"\(gave up after 8 attempts\)$"):
        retry(context(max_attempts=3), [refused() for _ in range(8)])


def test_other_transient_failures_still_stop_at_max_attempts() -> None:
    with pytest.raises(TransientError, match=r"\(gave up after 3 attempts\)$"):
        retry(context(max_attempts=3), [TransientError("the API failed (HTTP 503)")] * 3)


def test_max_attempts_1_means_no_retry_even_for_a_429() -> None:
    with pytest.raises(RateLimited, match=r"\(gave up after 1 attempt\)$"):
        retry(context(max_attempts=1), [refused()])


def test_retry_after_zero_again_and_again_still_gives_up() -> None:
    # Counting only the time slept, a server answering "Retry-After: 0" forever was asked forever.
    now = [RateLimited("too many requests (HTTP 429)", 0.0) for _ in range(1000)]
    with pytest.raises(RateLimited, match=r"gave up after (\d+) attempts") as gave_up:
        retry(context(max_attempts=3), now)
    assert int(gave_up.value.message.rsplit("after ", 1)[1].split()[0]) <= 3 + 66
    result, slept = retry(context(max_attempts=3), now[:4])
    assert result == "ok" and slept[:2] == [0.0, 0.0]  # within max_attempts, as the API asks
    assert slept[2:] == [1.0, 1.0]  # past them, patience waits
