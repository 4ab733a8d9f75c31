"""The pacing controller on a fake clock, against each way a server may enforce its limit."""

from __future__ import annotations

import asyncio
import math

import pytest

from runner.execute.pacer import Pacer
from runner.execute.pacing import (
    CUBIC_BETA,
    IN_FLIGHT_MARGIN,
    LATENCY_HEADROOM,
    MAX_IN_FLIGHT,
    PacingController,
)
from tests.pacing_sim import (
    ConcurrencyCap,
    FixedWindow,
    Limit,
    SlidingWindow,
    TokenBucket,
    Unlimited,
    simulate,
)

JOBS, LATENCY, RPM = 600, 4.0, 1800  # 30 requests per second, as in the benchmark
IDEAL = JOBS / (RPM / 60) + LATENCY


def test_in_flight_converges_to_rate_times_latency():
    outcome = simulate(Unlimited(), jobs=JOBS, rpm=RPM, latency=LATENCY)
    controller = outcome.controller
    assert controller.latency == pytest.approx(LATENCY)
    assert controller.ceiling == math.ceil(30 * LATENCY * LATENCY_HEADROOM) + IN_FLIGHT_MARGIN
    # Little's law: 30/s x 4 s = 120 in flight; the pacing, not the ceiling, bounds it.
    assert 118 <= outcome.max_in_flight <= controller.ceiling
    assert outcome.refused == 0
    assert outcome.wall == pytest.approx(IDEAL, rel=0.01)


def test_before_the_first_answer_only_the_rate_bounds_the_ramp():
    controller = PacingController(600, now=0.0)  # 10 per second
    now, sent = 0.0, 0
    while now < 5.0:  # no answer for 5 s: generations are slow
        wait = controller.wait(now)
        if wait == 0:
            controller.sent(now)
            sent += 1
        else:
            now += wait
    assert controller.in_flight == sent
    assert 50 <= sent <= 51  # one every 0.1 s from t=0, never a burst
    assert controller.ceiling == MAX_IN_FLIGHT


def test_the_ceiling_given_by_the_user_is_kept():
    outcome = simulate(Unlimited(), jobs=200, rpm=RPM, latency=LATENCY, max_in_flight=20)
    assert outcome.max_in_flight == 20
    assert outcome.controller.ceiling == 20


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(SlidingWindow(30), id="sliding-1s"),
        pytest.param(FixedWindow(30, 1.0), id="fixed-per-second"),
        pytest.param(FixedWindow(1800, 60.0), id="fixed-per-minute"),
        pytest.param(TokenBucket(30, 3), id="token-bucket"),
    ],
)
def test_rate_limits_are_met_with_few_refusals(limit: Limit):
    outcome = simulate(limit, jobs=JOBS, rpm=RPM, latency=LATENCY)
    assert outcome.refused_share < 0.02
    assert outcome.wall <= IDEAL * 1.10
    assert outcome.controller.concurrency_limit is None  # never mistaken for a concurrency cap


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(SlidingWindow(30), id="sliding-1s"),
        pytest.param(FixedWindow(30, 1.0), id="fixed-per-second"),
        pytest.param(TokenBucket(30, 3), id="token-bucket"),
    ],
)
def test_a_target_above_the_limit_settles_at_the_limit(limit: Limit):
    outcome = simulate(limit, jobs=JOBS, rpm=RPM * 1.2, latency=LATENCY)
    assert outcome.refused_share < 0.03
    assert outcome.wall <= IDEAL * 1.10  # about 30 per second, not far below
    assert outcome.controller.concurrency_limit is None


def test_a_burst_of_429s_counts_once():
    controller = PacingController(RPM, now=0.0)
    tickets = []
    now = 0.0
    for _ in range(60):
        now += controller.wait(now)
        tickets.append(controller.sent(now))
    for ticket in tickets:  # every one of them refused at the same moment
        controller.refused(ticket, now + 0.01, 1.0)
    assert controller.refusals == 60
    assert controller.cuts == 1
    assert controller.rate == pytest.approx(30 * CUBIC_BETA, rel=0.02)


def test_429s_to_requests_sent_before_the_cut_do_not_cut_again():
    controller = PacingController(RPM, now=0.0)
    now = 0.0
    early = []
    for _ in range(40):
        now += controller.wait(now)
        early.append(controller.sent(now))
    controller.refused(early[0], now, None)
    rate_after_cut = controller.rate
    # Answers to requests sent before the cut arrive much later: still the same burst.
    for ticket in early[1:]:
        controller.refused(ticket, now + 5.0, None)
    assert controller.cuts == 1
    assert controller.rate >= rate_after_cut


def test_recovery_returns_to_the_last_good_rate_then_probes_past_it():
    controller = PacingController(RPM * 2, now=0.0)  # the user allows 60/s; the server 30/s
    now = 0.0
    tickets = []
    while now < 3.0:
        wait = controller.wait(now)
        if wait:
            now += wait
            continue
        tickets.append(controller.sent(now))
    # Pretend the server let 30/s through: the measured sending rate is what failed.
    controller._sends.clear()
    for i in range(60):
        controller._sends.append(now - 2.0 + i / 30)
    controller.refused(tickets[-1], now, None)
    assert controller.rate == pytest.approx(30 * CUBIC_BETA, rel=0.05)
    cut_at = now
    k = (30 * (1 - CUBIC_BETA) / 0.4) ** (1 / 3)  # CUBIC's time back to the last good rate
    controller._update_rate(cut_at + k)
    assert controller.rate == pytest.approx(30, rel=0.02)
    controller._update_rate(cut_at + k + 3)
    assert 30 < controller.rate < 60  # slowly past it: not straight back to the target
    controller._update_rate(cut_at + k + 20)
    assert controller.rate == 60


def test_a_concurrency_cap_is_found_and_the_rate_left_alone():
    outcome = simulate(ConcurrencyCap(60), jobs=JOBS, rpm=RPM, latency=LATENCY)
    controller = outcome.controller
    assert controller.concurrency_limit is not None
    assert 50 <= controller.concurrency_limit <= 61
    assert controller.concurrency_cuts >= 1
    assert controller.rate == pytest.approx(30)  # the rate recovered: it was not the limit
    ideal = JOBS * LATENCY / 60 + LATENCY
    assert outcome.wall <= ideal * 1.10
    assert outcome.refused_share < 0.10


def test_a_long_retry_after_pauses_everyone():
    controller = PacingController(RPM, now=0.0)
    ticket = controller.sent(0.0)
    controller.refused(ticket, 0.1, 30.0)
    assert controller.wait(0.2) == pytest.approx(29.9)
    ticket = controller.sent(30.1)
    controller.refused(ticket, 30.2, 1.0)  # short: only that request waits (its retry policy)
    assert controller.wait(30.3) < 1.0


def test_the_pacer_hands_out_slots_in_order_and_frees_them():
    async def scenario() -> list[int]:
        pacer = Pacer(6000, max_in_flight=2)  # 100/s: fast enough for a unit test
        order: list[int] = []

        async def request(n: int) -> None:
            async with pacer.slot(generation=True) as slot:
                order.append(n)
                await asyncio.sleep(0.01)
                slot.ok()

        await asyncio.wait_for(asyncio.gather(*(request(n) for n in range(6))), 10)
        assert pacer.max_in_flight_seen == 2
        assert pacer.controller.in_flight == 0
        return order

    assert asyncio.run(scenario()) == list(range(6))


def test_a_cancelled_waiter_gives_its_place_back():
    async def scenario() -> None:
        pacer = Pacer(6000, max_in_flight=1)
        async with pacer.slot() as slot:
            waiting = asyncio.ensure_future(pacer._acquire())
            await asyncio.sleep(0.01)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            slot.ok()
        assert pacer.controller.in_flight == 0
        async with asyncio.timeout(5), pacer.slot() as again:
            again.ok()

    asyncio.run(scenario())
