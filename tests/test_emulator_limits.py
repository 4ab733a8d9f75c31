"""The emulator's limit models: sliding and fixed windows, and a cap on requests at once."""

from __future__ import annotations

import asyncio

import pytest

from runner.emulator import EmulatorConfig
from runner.emulator.ratelimits import FixedWindow, SlidingWindow, window_limit

from .emulator_support import feature_body, in_process, run, upload


def test_sliding_window_counts_any_second():
    window = SlidingWindow(3, 1.0)
    assert [window.take(t) for t in (0.0, 0.1, 0.2)] == [0.0, 0.0, 0.0]
    assert window.take(0.9) == pytest.approx(0.1)  # the first one leaves the window at 1.0
    assert window.take(1.05) == 0.0
    assert window.take(1.08) > 0  # 0.1, 0.2 and 1.05 are within the last second


def test_fixed_window_resets_on_the_clock():
    window = FixedWindow(3, 1.0)
    assert [window.take(t) for t in (0.7, 0.8, 0.9)] == [0.0, 0.0, 0.0]
    assert window.take(0.95) == pytest.approx(0.05)
    # A new window: three more at once, though six went within 0.4 s.
    assert [window.take(t) for t in (1.0, 1.01, 1.02)] == [0.0, 0.0, 0.0]


def test_window_models_share_the_per_minute_figure():
    per_second = window_limit("fixed-1s", 1800)
    per_minute = window_limit("fixed-60s", 1800)
    assert sum(per_second.take(0.5) == 0 for _ in range(100)) == 30
    assert sum(per_minute.take(0.5) == 0 for _ in range(2000)) == 1800
    with pytest.raises(ValueError, match="limit model"):
        EmulatorConfig(rpm_limit=60, limit_model="leaky")


def test_sliding_window_refuses_past_its_count_with_retry_after():
    async def scenario() -> list[int]:
        config = EmulatorConfig(rpm_limit=120, limit_model="sliding-1s")  # 2 in any second
        async with in_process(config) as (client, api):
            key = await upload(client)  # the first of the two
            answers = [await client.post("/api/features", json=feature_body(key)) for _ in range(3)]
            assert answers[1].headers["Retry-After"] == "1"
            assert len(api.ledger.entries) == 1
            return [a.status_code for a in answers]

    assert run(scenario()) == [200, 429, 429]


def test_a_concurrency_cap_refuses_requests_beyond_it():
    async def scenario() -> None:
        config = EmulatorConfig(max_in_flight=2, latency=0.3)
        async with in_process(config) as (client, api):
            key = await upload(client)
            answers = await asyncio.gather(
                *(client.post("/api/features", json=feature_body(key)) for _ in range(5))
            )
            codes = sorted(a.status_code for a in answers)
            assert codes == [200, 200, 429, 429, 429]
            refused = next(a for a in answers if a.status_code == 429)
            assert refused.headers["Retry-After"] == "1"
            assert api.stats.max_in_flight == 2
            # Once they are answered, there is room again.
            again = await client.post("/api/features", json=feature_body(key))
            assert again.status_code == 200

    run(scenario())
