"""The pacing controller on a fake clock, against each way a server may enforce its limit."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

import pytest

from runner.execute.pacer import Pacer
from runner.execute.pacing import (
    CUBIC_BETA,
    CUBIC_SCALE,
    IN_FLIGHT_MARGIN,
    LATENCY_HEADROOM,
    MAX_IN_FLIGHT,
    MIN_RATE_SHARE,
    PacingController,
    Ticket,
)
from tests.pacing_sim import (
    ConcurrencyCap,
    FixedWindow,
    Limit,
    QueuedCap,
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
    # Either no cap is learned, or one that still lets the server's rate through (Little's law).
    limit = outcome.controller.concurrency_limit
    assert limit is None or limit >= 0.9 * 30 * LATENCY


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(SlidingWindow(30), id="sliding-1s"),
        pytest.param(FixedWindow(30, 1.0), id="fixed-per-second"),
        pytest.param(TokenBucket(30, 3), id="token-bucket"),
    ],
)
def test_a_target_twice_the_limit_is_not_taken_for_a_concurrency_cap(limit: Limit):
    # Refused at 30 in flight in the first second (the window is full): a concurrency cap looks
    # the same until the window moves on and more in flight are let through.
    outcome = simulate(limit, jobs=JOBS, rpm=RPM * 2, latency=LATENCY)
    assert outcome.wall <= IDEAL * 1.15  # was 2.9 x ideal, capped at 29 in flight
    assert outcome.max_in_flight >= 110
    assert outcome.refused_share < 0.03
    limit_learned = outcome.controller.concurrency_limit
    assert limit_learned is None or limit_learned >= 0.9 * 30 * LATENCY


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
    # Nothing sent in those two seconds got in: the one cut goes as low as a cut goes, and
    # nothing was let in to tell of a concurrency cap.
    assert controller.rate == pytest.approx(30 * MIN_RATE_SHARE)
    assert controller.concurrency_limit is None


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


@pytest.mark.parametrize("cap", [30, 60, 100])
def test_a_concurrency_cap_is_found_held_and_the_rate_left_alone(cap: int):
    outcome = simulate(ConcurrencyCap(cap), jobs=JOBS, rpm=RPM, latency=LATENCY)
    controller = outcome.controller
    assert controller.concurrency_limit is not None
    assert cap - 2 <= controller.concurrency_limit <= cap + 1
    assert controller.concurrency_cuts >= 1
    assert controller.cuts <= 1  # only the first refusal, before the kinds can be told apart
    assert controller.rate == pytest.approx(30)  # the rate was not the limit
    assert outcome.max_in_flight <= cap + 1  # probes go one past the cap, never more
    ideal = JOBS * LATENCY / cap + LATENCY
    assert outcome.wall <= ideal * 1.05
    assert outcome.refused_share < 0.025  # one 429 per probe, not one per request


def test_a_failed_probe_past_the_cap_waits_longer_before_the_next():
    controller = PacingController(RPM, now=0.0)
    controller.latency = LATENCY
    controller.concurrency_limit = 60
    controller._next_probe = 0.0
    now = 0.0
    tickets = [controller.sent(now) for _ in range(60)]  # the cap is full
    controller.succeeded(
        tickets.pop(), now, generation=False
    )  # the cap binds and the probe is due: one more
    assert controller.concurrency_limit == 61
    tickets.append(controller.sent(now))
    tickets.append(controller.sent(now))  # the 60th and the 61st
    controller.refused(tickets.pop(), now + 0.02, 1.0)  # the probe was refused
    assert controller.concurrency_limit == 60
    assert controller._next_probe - (now + 0.02) == pytest.approx(2 * 2.0 * LATENCY)  # doubled
    # The next probe, when due, fails too: the wait doubles again.
    now = controller._next_probe
    controller.succeeded(tickets.pop(), now, generation=False)
    assert controller.concurrency_limit == 61
    tickets.append(controller.sent(now))
    tickets.append(controller.sent(now))
    controller.refused(tickets.pop(), now + 0.02, 1.0)
    assert controller.concurrency_limit == 60
    assert controller._next_probe - (now + 0.02) == pytest.approx(4 * 2.0 * LATENCY)
    assert controller.concurrency_cuts == 2
    assert controller.cuts == 0
    assert controller.rate == pytest.approx(30)  # a probe's 429 never cuts the rate


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


# -- refusals that come back late ------------------------------------------------------------------


def first_burst(cap: int, latency: float | tuple[float, float]) -> float:
    """The 429s no client can avoid against a cap whose 429s take a generation's time: those
    sent past the cap before the first 429 can come back. With every generation taking the
    same time, the places freed meanwhile take the rest."""
    sent_meanwhile = RPM / 60 * LATENCY  # one refusal delay's worth, at the target
    return sent_meanwhile - cap if isinstance(latency, float) else sent_meanwhile


@pytest.mark.parametrize("latency", [LATENCY, (3.0, 5.0)], ids=["fixed", "3-5s"])
@pytest.mark.parametrize("cap", [30, 60, 100])
def test_a_concurrency_cap_whose_429s_come_one_latency_late_is_learned(cap: int, latency):
    outcome = simulate(
        ConcurrencyCap(cap), jobs=JOBS, rpm=RPM, latency=latency, refusal_latency=LATENCY
    )
    controller = outcome.controller
    assert controller.concurrency_limit is not None
    assert cap - 2 <= controller.concurrency_limit <= cap + 2
    # The first burst, then a few: was 42% of all requests refused against a cap of 60, the
    # cap never learned (each 429 judged by the count in flight when it came back).
    assert outcome.refused <= first_burst(cap, latency) + 0.05 * JOBS
    ideal = JOBS * LATENCY / cap + LATENCY
    assert outcome.wall <= ideal * 1.15


@pytest.mark.parametrize("late", [(3.0, 5.0), (0.0, 0.5)], ids=["3-5s", "0-0.5s"])
@pytest.mark.parametrize("cap", [30, 60, 100])
def test_a_cap_whose_429s_come_back_out_of_order_is_learned(cap: int, late):
    # Each 429 takes its own time: one sent later may come back first, and a request's level
    # is known only once those sent before it have had time to come back too.
    outcome = simulate(
        ConcurrencyCap(cap), jobs=JOBS, rpm=RPM, latency=LATENCY, refusal_latency=late
    )
    controller = outcome.controller
    assert controller.concurrency_limit is not None
    assert cap - 2 <= controller.concurrency_limit <= cap + 2
    assert outcome.refused <= max(0.0, RPM / 60 * late[1] - cap) + 0.08 * JOBS
    assert outcome.wall <= (JOBS * LATENCY / cap + LATENCY) * 1.15


def test_a_late_429_is_judged_by_what_the_server_had_let_in():
    controller = PacingController(RPM, now=0.0)
    tickets = [controller.sent(i / 30) for i in range(70)]  # 70 in flight
    # The server let 60 in; it refused the next ten, but says so only a generation later.
    for ticket in tickets[60:]:
        controller.refused(ticket, ticket.sent_at + LATENCY, 1.0)
    assert [ticket.in_flight for ticket in tickets[60:]] == list(range(61, 71))
    assert [controller.level(ticket) for ticket in tickets[60:]] == [61] * 10
    # Answered at once, a 429 no longer stands between later requests and the server.
    quick = PacingController(RPM, now=0.0)
    first, second = quick.sent(0.0), quick.sent(0.1)
    quick.refused(first, 0.05, 1.0)
    assert quick.level(second) == 2


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(SlidingWindow(30), id="sliding-1s"),
        pytest.param(FixedWindow(30, 1.0), id="fixed-per-second"),
        pytest.param(FixedWindow(1800, 60.0), id="fixed-per-minute"),
        pytest.param(TokenBucket(30, 3), id="token-bucket"),
    ],
)
def test_rate_limits_whose_429s_come_late_are_met_with_few_refusals(limit: Limit):
    outcome = simulate(limit, jobs=JOBS, rpm=RPM, latency=LATENCY, refusal_latency=LATENCY)
    assert outcome.refused_share < 0.02
    assert outcome.wall <= IDEAL * 1.10
    assert outcome.controller.concurrency_limit is None


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(SlidingWindow(30), id="sliding-1s"),
        pytest.param(FixedWindow(30, 1.0), id="fixed-per-second"),
        pytest.param(TokenBucket(30, 3), id="token-bucket"),
    ],
)
def test_a_target_above_a_limit_whose_429s_come_late_settles_at_the_limit(limit: Limit):
    outcome = simulate(limit, jobs=JOBS, rpm=RPM * 1.2, latency=LATENCY, refusal_latency=LATENCY)
    # 6 a second too many for the 4 s before the first 429 can come back: 4% of the requests.
    assert outcome.refused_share < 0.08  # was 11 to 14%
    assert outcome.wall <= IDEAL * 1.12  # was 1.20 to 1.22
    learned = outcome.controller.concurrency_limit
    assert learned is None or learned >= 0.9 * 30 * LATENCY


def test_a_cap_that_queues_requests_and_refuses_them_after_a_while_is_learned():
    # A request past the cap waits for a place, and is refused when it has waited as long as a
    # generation takes.
    outcome = simulate(QueuedCap(60, LATENCY), jobs=JOBS, rpm=RPM, latency=LATENCY)
    assert outcome.refused_share < 0.05  # was 9.5%
    assert outcome.wall <= (JOBS * LATENCY / 60 + LATENCY) * 1.05


@pytest.mark.parametrize(
    ("timeout", "latency"),
    [(LATENCY + 0.01, LATENCY), (LATENCY, (3.8, 4.2)), (2 * LATENCY, LATENCY)],
    ids=["timeout-4.01s", "generations-3.8-4.2s", "timeout-8s"],
)
def test_a_queueing_cap_is_learned_from_the_time_queued_requests_take(timeout, latency):
    # Off the exact tie above (a wait of exactly one generation ends as its place frees), the
    # requests sent while the queue fills are served after waiting, and the first 429 comes two
    # generations after the cap filled (three with a timeout of 8 s): by then 11% (17%) of the
    # requests were sent to be refused. Those served took their wait longer, and the later sent,
    # the longer: that shows the queue two seconds before the first 429 can.
    outcome = simulate(QueuedCap(60, timeout), jobs=JOBS, rpm=RPM, latency=latency)
    controller = outcome.controller
    assert controller.queue_cuts >= 1
    assert controller.concurrency_limit is not None
    assert 58 <= controller.concurrency_limit <= 70  # probes creep past a cap that only queues
    assert outcome.refused_share < 0.05  # was 11%, 11% and 17%
    assert outcome.wall <= (JOBS * LATENCY / 60 + LATENCY) * 1.05


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("limit", "latency"),
    [
        pytest.param(Unlimited, (2.0, 8.0), id="unlimited-2-8s"),
        pytest.param(Unlimited, (4.0, 8.0), id="unlimited-4-8s"),
        pytest.param(lambda: TokenBucket(30, 3), (4.0, 8.0), id="token-bucket-4-8s"),
        pytest.param(lambda: SlidingWindow(30), (3.0, 5.0), id="sliding-1s-3-5s"),
    ],
)
def test_generations_that_vary_on_their_own_are_not_taken_for_a_queue(
    limit: Callable[[], Limit], latency: tuple[float, float], seed: int
):
    # Real generations take 30 to 60 s: some take twice as long as others without any queue.
    outcome = simulate(limit(), jobs=JOBS, rpm=RPM, latency=latency, seed=seed)
    assert outcome.controller.queue_cuts == 0
    assert outcome.controller.concurrency_limit is None


def test_past_the_rate_that_worked_cubic_probes_more_slowly_when_429s_come_late():
    def cut(delay: float) -> PacingController:
        controller = PacingController(RPM * 2, now=0.0)  # the user allows 60/s
        sent_at = 10.0
        controller._sends.extend(sent_at - 2.0 + i / 30 for i in range(60))  # 30/s worked
        controller.in_flight = 1
        controller.refused(Ticket(sent_at, 61), sent_at + delay, None)
        assert controller.rate == pytest.approx(30 * CUBIC_BETA, rel=0.05)
        return controller

    quick, late = cut(0.02), cut(LATENCY)
    k = (30 * (1 - CUBIC_BETA) / CUBIC_SCALE) ** (1 / 3)
    for controller, cut_at in ((quick, 10.02), (late, 10.0 + LATENCY)):
        controller._update_rate(cut_at + k)
        assert controller.rate == pytest.approx(30, rel=0.05)  # back to what worked, as soon
    quick._update_rate(10.02 + k + LATENCY)
    late._update_rate(10.0 + LATENCY + k + LATENCY)
    assert quick.rate >= 30 + CUBIC_SCALE * LATENCY**3 * 0.95  # the AWS SDKs' curve
    assert late.rate <= 30 + CUBIC_SCALE * 1.05  # a quarter of the time past: 1/64 the climb


def test_a_late_429_sent_before_the_cap_was_learned_is_not_a_failed_probe():
    controller = PacingController(RPM, now=0.0)
    controller.latency = LATENCY
    stale = [controller.sent(0.0) for _ in range(61)][-1]  # the 61st, sent before ...
    controller.concurrency_limit, controller._limit_set_at = 60, 3.0  # ... the cap was learned
    controller._next_probe = 3.0 + 2.0 * LATENCY
    controller.refused(stale, LATENCY, 1.0)
    assert controller.concurrency_limit == 60
    assert controller.concurrency_cuts == 0
    assert controller._next_probe == 3.0 + 2.0 * LATENCY  # no backoff: old news
    probe = controller.sent(5.0)  # the 61st again, after it: a failed probe
    controller.refused(probe, 5.0 + LATENCY, 1.0)
    assert controller.concurrency_cuts == 1
    assert controller._next_probe == pytest.approx(5.0 + LATENCY + 2 * 2.0 * LATENCY)


def test_a_429_is_judged_once_those_sent_before_it_can_have_come_back():
    controller = PacingController(RPM, now=0.0)
    tickets = [controller.sent(i / 30) for i in range(66)]  # the server lets the first 60 in
    last = tickets[65]
    for ticket in tickets[:51]:
        controller.succeeded(ticket, ticket.sent_at + LATENCY)
    controller.refused(last, last.sent_at + 3.5, 1.0)  # the last one's 429 is back first ...
    assert controller.cuts == 0  # ... and waits for those of the five sent before it
    for ticket in tickets[51:60]:
        controller.succeeded(ticket, ticket.sent_at + LATENCY)
    for ticket in tickets[60:65]:
        controller.refused(ticket, ticket.sent_at + 4.5, 1.0)
    assert controller.cuts == 1
    assert [controller.level(ticket) for ticket in tickets[60:]] == [61] * 6
    assert controller._held_level == 61  # not 66, what was in flight when the last was sent
