"""The shared rate limiter: even pacing, a small burst, and a whole-run pause on 429."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from runner.execute.ratelimit import RateLimiter


class FakeClock:
    """Time moves only when someone sleeps (virtual time, no real waiting)."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        await asyncio.sleep(0)


def test_requests_are_evenly_spaced_after_a_small_burst():
    limiter = RateLimiter(60, burst=3, clock=FakeClock())
    sends = [limiter.reserve(0.0) for _ in range(8)]
    assert sends[:3] == [0.0, 0.0, 0.0]  # the burst allowance
    gaps = [b - a for a, b in itertools.pairwise(sends[2:])]
    assert gaps == pytest.approx([1.0] * 5)


def test_a_minute_of_180_rpm_is_spread_over_the_minute_not_front_loaded():
    limiter = RateLimiter(180, burst=3, clock=FakeClock())
    sends = [limiter.reserve(0.0) for _ in range(180)]
    in_first_second = sum(1 for t in sends if t < 1.0)
    assert in_first_second <= 6  # the burst of 3, then 3 per second
    assert sends[-1] == pytest.approx(179 / 3 - 2 / 3)


def test_idle_time_does_not_bank_more_than_the_burst():
    limiter = RateLimiter(60, burst=2, clock=FakeClock())
    limiter.reserve(0.0)
    sends = [limiter.reserve(100.0) for _ in range(4)]
    assert sends == pytest.approx([100.0, 100.0, 101.0, 102.0])


def test_penalize_blocks_everyone_until_retry_after_then_paces_without_burst():
    limiter = RateLimiter(60, burst=3, clock=FakeClock(), slowdown=0.5, recovery_s=10)
    limiter.penalize(5.0, now=0.0)
    first, second, third = (limiter.reserve(1.0) for _ in range(3))
    assert first == pytest.approx(5.0)
    # Half the rate after a 429: two seconds apart instead of one.
    assert second - first == pytest.approx(2.0)
    assert third - second == pytest.approx(2.0)


def test_the_rate_recovers_after_a_penalty():
    limiter = RateLimiter(60, clock=FakeClock(), slowdown=0.5, min_factor=0.25, recovery_s=10)
    limiter.penalize(1.0, now=0.0)
    assert limiter._current_factor(1.0) == pytest.approx(0.5)
    assert limiter._current_factor(4.0) == pytest.approx(0.5 + 3 * 0.075)
    assert limiter._current_factor(100.0) == 1.0


def test_a_burst_of_429s_from_one_moment_counts_once():
    limiter = RateLimiter(60, clock=FakeClock(), slowdown=0.5)
    for _ in range(10):
        limiter.penalize(2.0, now=0.0)
    assert limiter.penalties == 1
    assert limiter._current_factor(2.0) == pytest.approx(0.5)


def test_acquire_sleeps_for_its_slot():
    clock = FakeClock()
    limiter = RateLimiter(60, burst=1, clock=clock)

    async def main() -> list[float]:
        sent = []
        for _ in range(3):
            await limiter.acquire()
            sent.append(clock.now())
        return sent

    sent = asyncio.run(main())
    assert [t - sent[0] for t in sent] == pytest.approx([0.0, 1.0, 2.0])


def test_a_sleeper_is_pushed_back_by_a_penalty_that_arrives_while_it_waits():
    clock = FakeClock()
    limiter = RateLimiter(60, burst=1, clock=clock)
    start = clock.now()
    limiter.reserve(start)  # someone took the current slot; ours is one second later

    async def main() -> float:
        waiter = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)  # the waiter reserved its slot and sleeps
        limiter.penalize(10.0, now=start)
        await waiter
        return clock.now()

    sent_at = asyncio.run(main())
    assert sent_at - start >= 10.0


def test_real_clock_pacing_with_a_tiny_interval():
    limiter = RateLimiter(60_000, burst=1)  # one per millisecond

    async def main() -> None:
        await asyncio.gather(*(limiter.acquire() for _ in range(20)))

    asyncio.run(main())
    assert limiter.penalties == 0


def test_rpm_must_be_positive():
    with pytest.raises(ValueError):
        RateLimiter(0)
