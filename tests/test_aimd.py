"""Adaptive concurrency: additive increase, multiplicative decrease, a gate that respects it."""

from __future__ import annotations

import asyncio

from runner.execute.aimd import AdaptiveLimit


def test_congestion_shrinks_the_limit_once_per_window():
    limit = AdaptiveLimit(16)
    assert limit.limit == 16
    limit.on_congestion()
    assert limit.limit == 11
    limit.on_congestion()  # same window (nothing completed since): no further cut
    assert limit.limit == 11


def test_successes_grow_the_limit_back_to_the_maximum_not_beyond():
    limit = AdaptiveLimit(8)
    limit.on_congestion()
    low = limit.limit
    for _ in range(200):
        limit.on_success()
    assert low < limit.limit == 8


def test_the_limit_never_falls_below_one():
    async def main() -> int:
        limit = AdaptiveLimit(4)
        for _ in range(20):
            await limit.acquire()
            limit.release()
            limit.on_congestion()
        return limit.limit

    assert asyncio.run(main()) == 1


def test_the_gate_admits_at_most_limit_holders():
    async def main() -> int:
        limit = AdaptiveLimit(3)
        peak = 0

        async def worker() -> None:
            nonlocal peak
            await limit.acquire()
            peak = max(peak, limit.in_use)
            await asyncio.sleep(0.001)
            limit.release()

        await asyncio.gather(*(worker() for _ in range(12)))
        assert limit.in_use == 0
        return peak

    assert asyncio.run(main()) == 3


def test_a_cancelled_waiter_gives_its_slot_back():
    async def main() -> int:
        limit = AdaptiveLimit(1)
        await limit.acquire()
        waiter = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
        limit.release()
        await limit.acquire()  # would hang if the cancelled waiter kept a slot
        return limit.in_use

    assert asyncio.run(main()) == 1
