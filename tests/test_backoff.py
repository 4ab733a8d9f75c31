"""Exponential backoff with full jitter, and Retry-After overriding it."""

from __future__ import annotations

import random

from runner.execute.backoff import MAX_RETRY_AFTER_S, Backoff


class MaxRandom(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


def test_the_ceiling_doubles_per_attempt_up_to_the_cap():
    backoff = Backoff(base=0.5, cap=5.0, rng=MaxRandom())
    assert [backoff.delay(a) for a in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_delays_are_jittered_over_the_whole_range():
    backoff = Backoff(base=1.0, cap=60.0, rng=random.Random(7))
    delays = [backoff.delay(3) for _ in range(500)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 1.0 and max(delays) > 7.0  # full jitter, not "8 plus a little"


def test_retry_after_overrides_the_backoff():
    backoff = Backoff(base=1.0, cap=60.0, rng=MaxRandom())
    assert backoff.delay(0, retry_after=12.5) == 12.5
    assert backoff.delay(9, retry_after=0.0) == 0.0


def test_an_absurd_retry_after_is_capped():
    assert Backoff().delay(0, retry_after=86_400) == MAX_RETRY_AFTER_S


def test_huge_attempt_numbers_do_not_overflow():
    assert Backoff(base=1.0, cap=3.0, rng=MaxRandom()).delay(10_000) == 3.0
