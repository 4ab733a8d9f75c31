"""The one pacing controller of a run: how fast API requests go out, and how many are in flight.

It owns two numbers and learns both from the answers:
- the sending rate. Requests are spaced evenly at `rate` (no burst: a server counting a sliding
  1-second window must never see more than the rate). A 429 is a congestion event: the rate drops
  to beta x the measured sending rate, then recovers along a CUBIC curve back to that rate and
  slowly past it (the AWS SDKs' adaptive retry mode: botocore `retries/throttling.py`,
  scale 0.4, beta 0.7), never above the target the user set. A burst of 429s counts once:
  only 429s to requests sent after the last cut count, and at most one cut per second.
- the in-flight ceiling. Little's law: reaching `target` requests per second at a generation
  latency of L seconds needs target x L requests in flight, so the ceiling follows a moving
  average of the latency of recent successful generations, plus a margin. Before the first
  answer there is no estimate, and the pacing alone ramps up. When 429s keep coming while the
  measured sending rate is well below the target, the server limits concurrency, not the rate:
  the ceiling drops below the current in-flight count and the rate is left alone; it then
  probes upward by one per ceiling's worth of successes.

Pure and synchronous, so that tests drive it with a fake clock; `Pacer` (pacer.py) puts it on the
event loop.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

# CUBIC, as the AWS SDKs: rate(t) = C (t - K)^3 + w_max, with K = cbrt(w_max (1 - beta) / C)
CUBIC_SCALE = 0.4
CUBIC_BETA = 0.7
# Hard cap on requests in flight, whatever the latency and the rate say.
MAX_IN_FLIGHT = 512
# At most one congestion cut per this many seconds: a burst of 429s is one event.
MIN_CUT_INTERVAL_S = 1.0
# Measured sending rate below this share of the target, and still 429s: a concurrency limit.
CONCURRENCY_SIGNAL = 0.9
# ... and fewer in flight than this share of what that sending rate keeps busy (Little's law).
LITTLE_SHARE = 0.85
# The in-flight ceiling: target x latency x this, plus IN_FLIGHT_MARGIN.
LATENCY_HEADROOM = 1.1
IN_FLIGHT_MARGIN = 4
# A Retry-After at least this long stops every request until then; shorter ones only delay
# the refused request (the rate cut already slows everyone down).
LONG_RETRY_AFTER_S = 2.0
# How fast the latency estimate follows new samples.
LATENCY_ALPHA = 0.2
# The lowest rate a run falls to, as a share of the target.
MIN_RATE_SHARE = 0.02
# The sending rate is measured over this many seconds of send times (at least MIN_SAMPLES sends).
SEND_WINDOW_S = 2.0
MIN_SAMPLES = 8


@dataclass(frozen=True)
class Ticket:
    """One request that was let through: when it was sent and what was in flight then."""

    sent_at: float
    in_flight: int


class PacingController:
    def __init__(
        self,
        rpm: float,
        *,
        now: float,
        max_in_flight: int | None = None,
        adaptive: bool = True,
    ) -> None:
        if rpm <= 0:
            raise ValueError("rpm must be positive")
        self.target = rpm / 60.0  # requests per second the user allows
        self.cap = max(1, min(max_in_flight or MAX_IN_FLIGHT, MAX_IN_FLIGHT))
        self.adaptive = adaptive
        self.rate = self.target
        self.in_flight = 0
        self.latency: float | None = None  # moving average of successful generations
        self.concurrency_limit: int | None = None  # learned from 429s, when the server caps it
        self.cuts = 0  # congestion events that lowered the rate
        self.concurrency_cuts = 0  # congestion events that lowered the in-flight ceiling
        self.refusals = 0  # every 429, counted or not
        self._next_send = now
        self._blocked_until = -math.inf
        self._last_cut = -math.inf
        self._w_max = self.target
        self._k = 0.0
        self._sends: deque[float] = deque(maxlen=256)
        self._probe_successes = 0
        self._started = now

    # -- what may go out ---------------------------------------------------------------------------

    @property
    def ceiling(self) -> int:
        """How many requests may be in flight at once now."""
        ceiling = self.cap
        if self.latency is not None:
            wanted = math.ceil(self.target * self.latency * LATENCY_HEADROOM) + IN_FLIGHT_MARGIN
            ceiling = min(ceiling, wanted)
        if self.concurrency_limit is not None:
            ceiling = min(ceiling, self.concurrency_limit)
        return max(1, ceiling)

    def wait(self, now: float) -> float:
        """Seconds before the next request may go out (0: now; inf: when one in flight ends)."""
        if self.in_flight >= self.ceiling:
            return math.inf
        return max(0.0, self._next_send - now, self._blocked_until - now)

    def sent(self, now: float) -> Ticket:
        """A request goes out now (call only when `wait(now)` is 0)."""
        self.in_flight += 1
        self._update_rate(now)
        # No catching up after a late send: evenly spaced from this one on.
        self._next_send = max(self._next_send, now) + 1.0 / self.rate
        self._sends.append(now)
        return Ticket(now, self.in_flight)

    # -- what came back ----------------------------------------------------------------------------

    def succeeded(self, ticket: Ticket, now: float, *, generation: bool = True) -> None:
        """An answer that was not a 429; `generation`: its latency says how long one takes."""
        self.in_flight -= 1
        if generation:
            sample = max(0.0, now - ticket.sent_at)
            self.latency = (
                sample
                if self.latency is None
                else self.latency + LATENCY_ALPHA * (sample - self.latency)
            )
        if self.concurrency_limit is not None:
            self._probe_successes += 1
            if self._probe_successes >= self.concurrency_limit:
                self._probe_successes = 0
                self.concurrency_limit = min(self.cap, self.concurrency_limit + 1)

    def failed(self, ticket: Ticket, now: float) -> None:
        """No answer, or a 5xx: not a sign of the rate (the retry policy backs off)."""
        self.in_flight -= 1

    def refused(self, ticket: Ticket, now: float, retry_after: float | None) -> None:
        """A 429."""
        self.in_flight -= 1
        self.refusals += 1
        if retry_after is not None and retry_after >= LONG_RETRY_AFTER_S:
            self._blocked_until = max(self._blocked_until, now + retry_after)
        if not self.adaptive:
            return
        if ticket.sent_at < self._last_cut or now - self._last_cut < MIN_CUT_INTERVAL_S:
            return  # the same burst: sent before the last cut, or too soon after it
        measured = self.measured_rate(now)
        self._last_cut = now
        if self.cuts and self._concurrency_bound(now, measured):
            # Refused although we send well below the target, and with fewer requests in flight
            # than that sending rate keeps busy (Little's law): the server caps concurrency.
            self.concurrency_cuts += 1
            self.concurrency_limit = max(1, math.floor((self.in_flight + 1) * 0.9))
            self._probe_successes = 0
            return
        self.cuts += 1
        self._update_rate(now)
        self._w_max = max(min(measured, self.rate), self.target * MIN_RATE_SHARE)
        self._k = (self._w_max * (1 - CUBIC_BETA) / CUBIC_SCALE) ** (1 / 3)
        self.rate = max(self._w_max * CUBIC_BETA, self.target * MIN_RATE_SHARE)
        self._next_send = max(self._next_send, now)

    # -- measures ----------------------------------------------------------------------------------

    def measured_rate(self, now: float) -> float:
        """Requests per second actually sent lately (since the last cut, when that was recent),
        from send times."""
        since = max(now - SEND_WINDOW_S, self._last_cut)
        count = 0
        first = now
        for sent_at in reversed(self._sends):
            if sent_at < since and count >= MIN_SAMPLES:
                break
            count += 1
            first = sent_at
        span = now - first
        if span <= 0:
            return self.rate if count else 0.0
        return count / span

    def _concurrency_bound(self, now: float, measured: float) -> bool:
        if measured >= CONCURRENCY_SIGNAL * self.target:
            return False
        # Before the first answer, the oldest request's age is a lower bound of the latency.
        latency = self.latency if self.latency is not None else now - self._started
        return self.in_flight + 1 < LITTLE_SHARE * measured * latency

    def _update_rate(self, now: float) -> None:
        """CUBIC recovery since the last cut, capped at the target."""
        if self.rate >= self.target or not self.cuts:
            return
        elapsed = now - self._last_cut
        cubic = CUBIC_SCALE * (elapsed - self._k) ** 3 + self._w_max
        self.rate = min(self.target, max(self.rate, cubic))
