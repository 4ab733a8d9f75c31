"""The emulator's limit models: sliding and fixed windows, and a cap on requests at once."""

from __future__ import annotations

import asyncio

import pytest

from runner.emulator.config import EmulatorConfig, config_from_options
from runner.emulator.faults import FaultInjector
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


def test_a_late_refusal_is_decided_on_arrival_and_holds_no_place():
    async def scenario() -> None:
        config = EmulatorConfig(max_in_flight=1, latency=0.05, refusal_delay=3600.0)
        async with in_process(config) as (client, api):
            key = await upload(client)
            first = asyncio.ensure_future(client.post("/api/features", json=feature_body(key)))
            while api.busy == 0:  # the first one is being answered
                await asyncio.sleep(0.001)
            refused = asyncio.ensure_future(client.post("/api/features", json=feature_body(key)))
            assert (await first).status_code == 200
            # The second was refused when it arrived; its 429 is held back, and meanwhile it takes
            # no place under the cap: a third goes through.
            third = await client.post("/api/features", json=feature_body(key))
            assert third.status_code == 200
            assert not refused.done()
            assert api.stats.to_json()["api_429"] == 0  # not answered yet
            refused.cancel()

    run(scenario())


def test_a_late_refusal_is_a_429_with_retry_after():
    async def scenario() -> None:
        config = EmulatorConfig(rpm_limit=1, rpm_burst=1, refusal_delay=0.01)
        async with in_process(config) as (client, api):
            await upload(client)  # the one request of the minute
            answer = await client.post("/api/features", json=feature_body("any"))
            assert answer.status_code == 429
            assert 50 <= int(answer.headers["Retry-After"]) <= 60
            assert api.stats.to_json()["api_429"] == 1

    run(scenario())


def test_refusal_delay_and_transfer_latency_options():
    config = config_from_options(latency="4", refusal_delay="latency", transfer_latency="0.02")
    assert config.refusal_delay == 4.0  # "latency": as long as a generation takes
    assert config.transfer_latency == 0.02
    ranged = config_from_options(latency="1-3", refusal_delay=" Latency ")
    assert ranged.refusal_delay == (1.0, 3.0)
    assert config_from_options(refusal_delay="0.5-2").refusal_delay == (0.5, 2.0)
    assert config_from_options().refusal_delay == 0.0  # answered at once by default
    with pytest.raises(ValueError, match="refusal delay 'soon' is not a number of seconds"):
        config_from_options(refusal_delay="soon")
    with pytest.raises(ValueError, match="transfer_latency"):
        EmulatorConfig(transfer_latency=-0.1)
    with pytest.raises(ValueError, match="refusal_delay"):
        EmulatorConfig(refusal_delay=(2.0, 1.0))
    faults = FaultInjector(EmulatorConfig(refusal_delay=(1.0, 2.0), transfer_latency=0.02, seed=1))
    assert all(1.0 <= faults.refusal_delay() <= 2.0 for _ in range(20))
    assert faults.transfer_latency() == 0.02
