"""The one pacing controller of a run: how fast API requests go out, and how many are in flight.

It learns three things from the answers:
- the sending rate. Requests are spaced evenly at `rate` (no burst: a server counting a sliding
  1-second window must never see more than the rate). A 429 is a congestion event: the rate drops
  to beta x the rate that worked (requests sent lately, less those refused), then recovers
  along a CUBIC curve back to that rate and slowly past it (the AWS SDKs' adaptive retry
  mode: botocore `retries/throttling.py`, scale 0.4, beta 0.7), never above the target the
  user set. A burst of 429s counts once:
  only 429s to requests sent after the last cut count, and at most one cut per second.
- the in-flight ceiling. Little's law: reaching `target` requests per second at a generation
  latency of L seconds needs target x L requests in flight, so the ceiling follows a moving
  average of the latency of recent successful generations, plus a margin. Before the first
  answer there is no estimate, and the pacing alone ramps up.
- a concurrency cap, when the server has one. After each rate cut the in-flight count is held
  for a moment just below the level that was refused. A rate limit lets the count climb past
  that level once its window moves on; a concurrency cap refuses the same level again. So a
  refusal there for longer than a second (the hold renewed meanwhile), while the sending rate
  is below the target, means a cap:
  the ceiling stays one below that level, the rate cut is undone, and the ceiling probes
  upward by one only every few latency periods (less often after each failed probe), so that
  the cap costs one 429 per probe instead of one per request.

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
# After a rate cut, the in-flight count is held below the refused level for this long.
HOLD_S = 0.3
# Refusals at the held level for this long (the longest common window) mean a concurrency cap.
CONFIRM_S = 1.0
# Once a concurrency cap is known, probe one past it every this many latency periods, doubled
# after each failed probe up to PROBE_BACKOFF_MAX times.
PROBE_PERIODS = 2.0
PROBE_BACKOFF_MAX = 8.0
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
        self._refused_sends: deque[float] = deque(maxlen=256)  # send times of refused requests
        self._rate_before_cut = self.target
        self._hold = MAX_IN_FLIGHT  # in-flight count held below a refused level ...
        self._hold_until = -math.inf  # ... until then
        self._held_level: int | None = None  # the level refused at the last rate cut ...
        self._held_since = -math.inf  # ... then
        self._next_probe = math.inf
        self._probe_backoff = 1.0
        self._last_probe_failed = -math.inf

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
        held = 0.0
        if now < self._hold_until and self.in_flight >= self._hold:
            held = self._hold_until - now
        return max(0.0, held, self._next_send - now, self._blocked_until - now)

    def sent(self, now: float) -> Ticket:
        """A request goes out now (call only when `wait(now)` is 0)."""
        self.in_flight += 1
        self._update_rate(now)
        # No catching up after a late send: evenly spaced from this one on.
        self._next_send = max(self._next_send, now) + 1.0 / self.rate
        self._sends.append(now)
        if self._held_level is not None and self.in_flight > self._held_level + 1:
            self._held_level = None  # past the refused level: not a concurrency cap there
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
        limit = self.concurrency_limit
        if limit is not None and now >= self._next_probe and self.in_flight + 1 >= limit:
            # The cap binds and has held for a while: try one more.
            self.concurrency_limit = min(self.cap, limit + 1)
            self._next_probe = now + self._probe_period()

    def failed(self, ticket: Ticket, now: float) -> None:
        """No answer, or a 5xx: not a sign of the rate (the retry policy backs off)."""
        self.in_flight -= 1

    def refused(self, ticket: Ticket, now: float, retry_after: float | None) -> None:
        """A 429."""
        self.in_flight -= 1
        self.refusals += 1
        self._refused_sends.append(ticket.sent_at)
        if retry_after is not None and retry_after >= LONG_RETRY_AFTER_S:
            self._blocked_until = max(self._blocked_until, now + retry_after)
        if not self.adaptive:
            return
        level = ticket.in_flight
        limit = self.concurrency_limit
        if limit is not None and level >= limit:
            # Refused past the known cap (a probe): back to the level that worked, probe later.
            self.concurrency_limit = max(1, min(limit, level - 1))
            if now - self._last_probe_failed >= MIN_CUT_INTERVAL_S:  # once per burst
                self._last_probe_failed = now
                self.concurrency_cuts += 1
                self._probe_backoff = min(PROBE_BACKOFF_MAX, self._probe_backoff * 2)
            self._next_probe = now + self._probe_period()
            return
        held = self._held_level
        if held is not None and held <= level <= held + 1 and ticket.sent_at >= self._hold_until:
            # Refused again at the held level after the hold: a rate limit's window has not moved
            # on yet, or the server caps concurrency. Refused there for longer than any common
            # window, and sending below the target: a cap.
            if now - self._held_since >= CONFIRM_S and (
                self.measured_rate(now) < CONCURRENCY_SIGNAL * self.target
            ):
                self.concurrency_cuts += 1
                self.concurrency_limit = max(1, min(self.cap, level - 1))
                self._held_level = None
                self._hold_until = -math.inf
                self.rate = max(self.rate, min(self.target, self._rate_before_cut))  # undo the cut
                self._next_probe = now + self._probe_period()
                self._last_cut = now
            else:
                self._hold_until = now + HOLD_S
            return
        if ticket.sent_at <= self._last_cut or now - self._last_cut < MIN_CUT_INTERVAL_S:
            return  # the same burst: sent before the last cut, or too soon after it
        measured = self.measured_rate(now, accepted=True)
        self._last_cut = now
        self.cuts += 1
        self._update_rate(now)
        self._rate_before_cut = self.rate
        self._w_max = max(min(measured, self.rate), self.target * MIN_RATE_SHARE)
        self._k = (self._w_max * (1 - CUBIC_BETA) / CUBIC_SCALE) ** (1 / 3)
        self.rate = max(self._w_max * CUBIC_BETA, self.target * MIN_RATE_SHARE)
        self._next_send = max(self._next_send, now)
        # Hold the in-flight count below the refused level for a moment: against a concurrency
        # cap this stops a stream of 429s, and the next refusal tells the two kinds apart.
        self._held_level = level
        self._held_since = now
        self._hold = max(1, level - 1)
        self._hold_until = now + HOLD_S

    # -- measures ----------------------------------------------------------------------------------

    def measured_rate(self, now: float, *, accepted: bool = False) -> float:
        """Requests per second actually sent lately (since the last cut, when that was recent),
        from send times; `accepted`: leaving out those refused so far (the rate that worked)."""
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
        if accepted:
            count -= sum(1 for sent_at in self._refused_sends if sent_at >= first)
        return max(0.0, count / span)

    def _probe_period(self) -> float:
        latency = self.latency if self.latency is not None else 1.0
        return PROBE_PERIODS * latency * self._probe_backoff

    def _update_rate(self, now: float) -> None:
        """CUBIC recovery since the last cut, capped at the target."""
        if self.rate >= self.target or not self.cuts:
            return
        elapsed = now - self._last_cut
        cubic = CUBIC_SCALE * (elapsed - self._k) ** 3 + self._w_max
        self.rate = min(self.target, max(self.rate, cubic))
