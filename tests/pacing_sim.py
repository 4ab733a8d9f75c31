"""A discrete-event simulation: the pacing controller against a server's limit, on a fake clock.

Each job sends one request; a 429 comes back after `refusal_latency` seconds (at once, or late,
as servers that hold a request before refusing it) and the job retries after the Retry-After the
server gave; an accepted request answers after `latency` seconds. Both are fixed, or uniform
within a range. A `QueuedCap` server queues what it cannot take and refuses it when it has
waited too long.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field

from runner.execute.pacing import PacingController, Ticket


class Limit:
    """What a server counts: `admit(now)` -> None to accept, else the Retry-After in seconds."""

    def admit(self, now: float) -> float | None:
        raise NotImplementedError

    def finished(self, now: float) -> None:
        """An accepted request ended."""


class Unlimited(Limit):
    def admit(self, now: float) -> float | None:
        return None


class SlidingWindow(Limit):
    def __init__(self, limit: int, window: float = 1.0) -> None:
        self.limit, self.window = limit, window
        self.accepted: deque[float] = deque()

    def admit(self, now: float) -> float | None:
        while self.accepted and self.accepted[0] <= now - self.window:
            self.accepted.popleft()
        if len(self.accepted) >= self.limit:
            return max(1.0, math.ceil(self.accepted[0] + self.window - now))
        self.accepted.append(now)
        return None


class FixedWindow(Limit):
    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self.window, self.count = -1, 0

    def admit(self, now: float) -> float | None:
        window = math.floor(now / self.period)
        if window != self.window:
            self.window, self.count = window, 0
        if self.count >= self.limit:
            return max(1.0, math.ceil((window + 1) * self.period - now))
        self.count += 1
        return None


class TokenBucket(Limit):
    def __init__(self, rate: float, depth: float) -> None:
        self.rate, self.depth = rate, depth
        self.tokens, self.updated = depth, 0.0

    def admit(self, now: float) -> float | None:
        self.tokens = min(self.depth, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return 1.0


class ConcurrencyCap(Limit):
    def __init__(self, cap: int) -> None:
        self.cap, self.busy = cap, 0

    def admit(self, now: float) -> float | None:
        if self.busy >= self.cap:
            return 1.0
        self.busy += 1
        return None

    def finished(self, now: float) -> None:
        self.busy -= 1


class QueuedCap(ConcurrencyCap):
    """At most `cap` at once; a request beyond waits in line, and is refused (429) when it has
    waited `timeout` seconds without a place."""

    def __init__(self, cap: int, timeout: float) -> None:
        super().__init__(cap)
        self.timeout = timeout


@dataclass
class Outcome:
    wall: float
    requests: int
    refused: int
    max_in_flight: int
    controller: PacingController
    rates: list[tuple[float, float]] = field(default_factory=list)  # (time, rate) at each send

    @property
    def refused_share(self) -> float:
        return self.refused / self.requests


def simulate(
    limit: Limit,
    *,
    jobs: int,
    rpm: float,
    latency: float | tuple[float, float],
    refusal_latency: float | tuple[float, float] = 0.02,
    max_in_flight: int | None = None,
    seed: int = 0,
) -> Outcome:
    now = 0.0
    rng = random.Random(seed)
    low, high = latency if isinstance(latency, tuple) else (latency, latency)
    late_low, late_high = (
        refusal_latency if isinstance(refusal_latency, tuple) else (refusal_latency,) * 2
    )
    controller = PacingController(rpm, now=now, max_in_flight=max_in_flight)
    ready: deque[int] = deque(range(jobs))  # jobs whose next request may go now
    events: list[tuple[float, int, str, int, Ticket | None, float | None]] = []
    waiting: deque[tuple[int, Ticket, float]] = deque()  # QueuedCap's line: job, ticket, since
    seq = 0
    done = requests = refused = max_in_flight_seen = 0
    rates: list[tuple[float, float]] = []

    def push(when: float, kind: str, job: int, ticket: Ticket | None, retry: float | None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (when, seq, kind, job, ticket, retry))

    def start(job: int, ticket: Ticket) -> None:
        push(now + (low if low == high else rng.uniform(low, high)), "ok", job, ticket, None)

    queue_timeout = limit.timeout if isinstance(limit, QueuedCap) else None
    while done < jobs:
        while ready and controller.wait(now) == 0:
            job = ready.popleft()
            ticket = controller.sent(now)
            requests += 1
            max_in_flight_seen = max(max_in_flight_seen, controller.in_flight)
            rates.append((now, controller.rate))
            retry_after = limit.admit(now) if not waiting else 1.0  # none jumps the line
            if retry_after is None:
                start(job, ticket)
            elif queue_timeout is not None:
                waiting.append((job, ticket, now))
                push(now + queue_timeout, "timeout", job, ticket, 1.0)
            else:
                late = late_low if late_low == late_high else rng.uniform(late_low, late_high)
                push(now + late, "429", job, ticket, retry_after)
        wake = now + controller.wait(now) if ready else math.inf
        when = min(events[0][0] if events else math.inf, wake)
        assert math.isfinite(when), "the simulation stalled"
        now = max(now, when)
        while events and events[0][0] <= now:
            _, _, kind, job, answered, retry_after = heapq.heappop(events)
            if kind == "ok":
                assert answered is not None
                limit.finished(now)
                controller.succeeded(answered, now)
                done += 1
                while waiting and limit.admit(now) is None:  # the next in line gets the place
                    waiting_job, waiting_ticket, _ = waiting.popleft()
                    start(waiting_job, waiting_ticket)
            elif kind == "timeout":
                assert answered is not None
                place = next((w for w in waiting if w[1] is answered), None)
                if place is None:
                    continue  # it got a place in time
                waiting.remove(place)
                kind = "429"
            if kind == "429":
                assert answered is not None
                refused += 1
                controller.refused(answered, now, retry_after)
                push(now + (retry_after or 1.0), "retry", job, None, None)
            elif kind == "retry":
                ready.append(job)
    return Outcome(now, requests, refused, max_in_flight_seen, controller, rates)
