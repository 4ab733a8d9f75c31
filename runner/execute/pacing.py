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
  that level once its window moves on; a concurrency cap refuses the same level again. So
  refusals there for requests sent more than a second apart, while the rate that worked is
  below the target, mean a cap (once no request sent past that level since may still turn out
  to have got in):
  the ceiling stays one below that level, the rate cut is undone (up to what the cap lets
  through), and the ceiling probes upward by one only every few latency periods (less often
  after each failed probe), so that the cap costs one 429 per probe instead of one per request.

Some servers answer a 429 only late (after as long as a generation takes, say). Judged by the
in-flight count when the answer came, such a cap looked like a rate limit that never settled:
40% of the requests refused. So everything is judged by when a request was sent:
- its level is what the server had let in then: the requests in flight, less those already
  refused whose 429 was still on its way (refused with nothing let in, no cap says that). A
  429 is judged once every request sent before it has had time to be refused too (1.5 x the
  longest recent 429 delay), so that 429s coming back out of order are judged in send order;
- a hold lasts until the 429s to what was sent before it can have come back (the refusal's own
  delay), and a level counts as passed only by a request that got in past it: answered, or
  unrefused for as long as 429s take;
- a rate cut is measured on the requests sent before the refused one, and deepened (never
  repeated) as the rest of its burst's 429s come back; past the rate that worked, CUBIC probes
  as many times more slowly as 429s take seconds to come back;
- a 429 to a request sent before the cap was last set is old news, not a failed probe.

Some servers do not refuse a request past their cap at once but make it wait for a place, and
refuse it only when it has waited too long. From here such a queue looks like room: no 429
until the waits reach the timeout, two generations after the cap filled, and by then a client
sending at the target has sent a burst that can only time out (11% of the requests refused).
What shows the queue early is the time a generation takes: queued requests take their wait
longer, and the longer the later they were sent. So the controller compares the successes sent
at the highest levels with the rest: when the former took clearly longer (three quarters of them
more than 1.25 x the others' median), the server is queueing, and its cap is just below the
lowest level that took that long. Generations that vary on their own (real ones: 30 to 60 s) do
not take longer for having been sent at a higher level; and levels less than 1.5 x apart are
not compared at all: in a steady state they differ by chance, and while the count in flight
falls, the slowest of the requests sent when it was higher are the last to come back.

Pure and synchronous, so that tests drive it with a fake clock; `Pacer` (pacer.py) puts it on the
event loop.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

# CUBIC, as the AWS SDKs: rate(t) = C (t - K)^3 + w_max, with K = cbrt(w_max (1 - beta) / C)
CUBIC_SCALE = 0.4
CUBIC_BETA = 0.7
# Hard cap on requests in flight, whatever the latency and the rate say.
MAX_IN_FLIGHT = 512
# Past the rate that worked, CUBIC probes as the AWS SDKs do when 429s come back within this
# many seconds; when they take longer, it probes that many times more slowly, so that it never
# runs far past the limit before the first refusal can tell it.
CUBIC_FEEDBACK_S = 1.0
# At most one congestion cut per this many seconds: a burst of 429s is one event.
MIN_CUT_INTERVAL_S = 1.0
# The rate that worked below this share of the target, and still 429s: a concurrency limit.
CONCURRENCY_SIGNAL = 0.9
# After a rate cut, the in-flight count is held below the refused level for this long, plus the
# time the 429 took to come back.
HOLD_S = 0.3
# Refusals at the held level for requests sent this far apart (the longest common window) mean
# a concurrency cap.
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
# A queue at the server: of the last QUEUE_WINDOW successful generations, the QUEUE_SAMPLES sent
# at the highest levels, all at least QUEUE_LEVELS x the median level of the others, took (their
# lower quartile) more than QUEUE_RATIO x the others' median time. Checked every
# QUEUE_CHECK_EVERY successes.
QUEUE_WINDOW = 128
QUEUE_SAMPLES = 16
QUEUE_LEVELS = 1.5
QUEUE_RATIO = 1.25
QUEUE_CHECK_EVERY = 4
# How fast the latency estimate follows new samples.
LATENCY_ALPHA = 0.2
# The lowest rate a run falls to, as a share of the target.
MIN_RATE_SHARE = 0.02
# The sending rate is measured over this many seconds of send times (at least MIN_SAMPLES sends).
SEND_WINDOW_S = 2.0
MIN_SAMPLES = 8
# How many recent sends and refusals are remembered (for rates and levels).
HISTORY = 512
# How late a 429 may still come: the longest of this many recent 429s' delays, times
# LATE_MARGIN (their delays vary; the first few say little of how much).
LATE_SAMPLES = 16
LATE_MARGIN = 1.5


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
        self._refusal_delays: deque[float] = deque(maxlen=LATE_SAMPLES)  # how long 429s took
        self.concurrency_limit: int | None = None  # learned from 429s, when the server caps it
        self.cuts = 0  # congestion events that lowered the rate
        self.concurrency_cuts = 0  # congestion events that lowered the in-flight ceiling
        self.refusals = 0  # every 429, counted or not
        self._next_send = now
        self._blocked_until = -math.inf
        self._last_cut = -math.inf
        self._cut_delay = 0.0  # how long the 429 that caused the last cut took to come back
        self._refine_until = -math.inf  # late 429s of the cut's burst may lower it until then
        self._w_max = self.target
        self._k = 0.0
        self._sends: deque[float] = deque(maxlen=HISTORY)
        self._refused: deque[tuple[float, float]] = deque(maxlen=HISTORY)  # (sent, answered)
        self._rate_before_cut = self.target
        self._hold = MAX_IN_FLIGHT  # in-flight count held below a refused level ...
        self._hold_until = -math.inf  # ... until then
        self._held_level: int | None = None  # the level refused at the last rate cut ...
        self._held_sent_at = -math.inf  # ... by a request sent then
        # Refused at the held level long enough to be a cap, once nothing sent past it since is
        # still on its way (an answer that could show that more got in).
        self._cap_candidate = False
        self._tickets: dict[int, Ticket] = {}  # in flight, by id, in the order they were sent
        # 429s not judged yet, in the order they were sent: (ticket, when it came back)
        self._unjudged: list[tuple[Ticket, float]] = []
        self._limit_set_at = -math.inf  # when the concurrency limit was last set or lowered
        self._next_probe = math.inf
        self._probe_backoff = 1.0
        self._last_probe_failed = -math.inf
        # Recent successful generations: (level when sent, how long they took), for queues.
        self._samples: deque[tuple[int, float]] = deque(maxlen=QUEUE_WINDOW)
        self._until_check = QUEUE_CHECK_EVERY
        self.queue_cuts = 0  # queues found, each setting the concurrency limit

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
        held = self._held_level
        if held is not None and self.in_flight - self._unconfirmed(now) > held + 1:
            self._release_hold()  # past the refused level, unrefused: not a concurrency cap there
        ticket = Ticket(now, self.in_flight)
        self._tickets[id(ticket)] = ticket
        self._judge_due(now)
        return ticket

    # -- what came back ----------------------------------------------------------------------------

    def succeeded(self, ticket: Ticket, now: float, *, generation: bool = True) -> None:
        """An answer that was not a 429; `generation`: its latency says how long one takes."""
        self._answered(ticket)
        if generation:
            sample = max(0.0, now - ticket.sent_at)
            self.latency = (
                sample
                if self.latency is None
                else self.latency + LATENCY_ALPHA * (sample - self.latency)
            )
            if self.adaptive:
                self._samples.append((self.level(ticket), sample))
                self._until_check -= 1
                if self._until_check <= 0:
                    self._until_check = QUEUE_CHECK_EVERY
                    self._check_queue(now)
        held = self._held_level
        if (
            held is not None
            and ticket.sent_at > self._held_sent_at
            and self._level_known(ticket, now)
            and self.level(ticket) > held + 1
        ):
            self._release_hold()  # let in past the refused level: not a concurrency cap there
        self._judge_due(now)
        self._confirm_when_due(now)
        limit = self.concurrency_limit
        if limit is not None and now >= self._next_probe and self.in_flight + 1 >= limit:
            # The cap binds and has held for a while: try one more.
            self.concurrency_limit = min(self.cap, limit + 1)
            self._next_probe = now + self._probe_period()

    def failed(self, ticket: Ticket, now: float) -> None:
        """No answer, or a 5xx: not a sign of the rate (the retry policy backs off)."""
        self._answered(ticket)
        self._judge_due(now)
        self._confirm_when_due(now)

    def refused(self, ticket: Ticket, now: float, retry_after: float | None) -> None:
        """A 429. Judged once every request sent before it has had time to be refused too, so
        that its level is known even when 429s come back out of order."""
        self._answered(ticket)
        self.refusals += 1
        self._refused.append((ticket.sent_at, now))
        self._refusal_delays.append(max(0.0, now - ticket.sent_at))
        if retry_after is not None and retry_after >= LONG_RETRY_AFTER_S:
            self._blocked_until = max(self._blocked_until, now + retry_after)
        if self.adaptive:
            bisect.insort(self._unjudged, (ticket, now), key=lambda item: item[0].sent_at)
            self._judge_due(now)

    def _check_queue(self, now: float) -> None:
        """Whether the server makes requests wait for a place: those sent at the highest levels
        took clearly longer than the rest. If so, its cap is just below the lowest level that
        took that long."""
        if len(self._samples) < 2 * QUEUE_SAMPLES:
            return
        ordered = sorted(self._samples, key=lambda sample: sample[0])  # by level; stable
        high, low = ordered[-QUEUE_SAMPLES:], ordered[:-QUEUE_SAMPLES]
        if high[0][0] < QUEUE_LEVELS * low[len(low) // 2][0]:
            return  # sent at about the same level: nothing to compare
        usual = sorted(latency for _, latency in low)[len(low) // 2]
        if sorted(latency for _, latency in high)[QUEUE_SAMPLES // 4] <= QUEUE_RATIO * usual:
            return
        cap = min(level for level, latency in high if latency > QUEUE_RATIO * usual) - 1
        if cap < 2 or (self.concurrency_limit is not None and cap >= self.concurrency_limit):
            return
        self.queue_cuts += 1
        self._set_limit(cap, now)
        self._next_probe = now + self._probe_period()
        self._samples.clear()  # what was measured before the cap says nothing of what comes

    def _judge_due(self, now: float) -> None:
        """Judge the 429s whose level is known, in the order their requests were sent."""
        while self._unjudged:
            ticket, answered_at = self._unjudged[0]
            if not self._level_known(ticket, now):
                return
            del self._unjudged[0]
            self._judge(ticket, answered_at, now)

    def _judge(self, ticket: Ticket, answered_at: float, now: float) -> None:
        """What one 429 says: a failed probe, a concurrency cap, or a rate limit."""
        level = self.level(ticket)
        delay = answered_at - ticket.sent_at
        limit = self.concurrency_limit
        if limit is not None and level >= limit:
            if ticket.sent_at < self._limit_set_at:
                return  # sent before the cap was set or lowered: old news
            # Refused past the known cap (a probe): back to the level that worked, probe later.
            self._set_limit(min(limit, level - 1), now)
            if now - self._last_probe_failed >= MIN_CUT_INTERVAL_S:  # once per burst
                self._last_probe_failed = now
                self.concurrency_cuts += 1
                self._probe_backoff = min(PROBE_BACKOFF_MAX, self._probe_backoff * 2)
            self._next_probe = now + self._probe_period()
            return
        held = self._held_level
        if held is not None and ticket.sent_at > self._held_sent_at and level > held + 1:
            self._release_hold()  # the server let more in than that: not a concurrency cap there
            held = None
        if held is not None and 2 <= level < held and ticket.sent_at >= self._held_sent_at:
            held = self._held_level = level  # refused lower still: hold below that
            self._hold = level - 1
        if held is not None and held <= level <= held + 1:
            # Refused again at the held level: a rate limit's window has not moved on yet, or
            # the server caps concurrency. Refused there for requests sent further apart than
            # any common window, while the rate that worked is below the target: a cap, once
            # nothing sent past that level is still on its way.
            if ticket.sent_at - self._held_sent_at >= CONFIRM_S and (
                self.accepted_rate(ticket.sent_at) < CONCURRENCY_SIGNAL * self.target
            ):
                self._cap_candidate = True
            self._hold_at(now, delay)
            self._confirm_when_due(now)
            return
        if ticket.sent_at <= self._last_cut:
            # The same burst, answered late: what it says of the rate that worked only sharpens.
            self._refine_cut(ticket, now)
            return
        if now - self._last_cut < MIN_CUT_INTERVAL_S:
            return  # too soon after the last cut
        worked = self.accepted_rate(ticket.sent_at)
        self._last_cut = now
        self._cut_delay = delay
        self._refine_until = now + delay + SEND_WINDOW_S
        self.cuts += 1
        self._update_rate(now)
        self._rate_before_cut = self.rate
        self._cut_to(min(worked, self.rate))
        self._next_send = max(self._next_send, now)
        self._release_hold()
        if level < 2:
            return  # refused with nothing let in: no concurrency cap says that
        # Hold the in-flight count below the refused level for a moment: against a concurrency
        # cap this stops a stream of 429s, and the next refusal tells the two kinds apart.
        self._held_level = level
        self._held_sent_at = ticket.sent_at
        self._hold = level - 1
        self._hold_at(now, delay)

    # -- measures ----------------------------------------------------------------------------------

    @property
    def refusal_delay(self) -> float:
        """How late a 429 may still come (0 before any)."""
        return LATE_MARGIN * max(self._refusal_delays, default=0.0)

    def level(self, ticket: Ticket) -> int:
        """How many requests the server had let in when `ticket` was sent, itself included: those
        in flight then, less those it had refused, whose 429 was still on its way."""
        refused_then = 0
        for sent, answered in reversed(self._refused):  # in the order they came back
            if answered <= ticket.sent_at:
                break
            if sent < ticket.sent_at:
                refused_then += 1
        return ticket.in_flight - refused_then

    def accepted_rate(self, until: float) -> float:
        """Requests per second sent lately before `until` (since the last cut, when that was
        recent) and not refused: the rate that worked then. Refusals of requests sent before
        `until` have come back by now, unless the server answers them in a varying time."""
        since = until - SEND_WINDOW_S
        if self._last_cut < until:
            since = max(since, self._last_cut)
        count = 0
        first = until
        for sent_at in reversed(self._sends):
            if sent_at > until:
                continue
            if sent_at < since and count >= MIN_SAMPLES:
                break
            count += 1
            first = sent_at
        span = until - first
        if span <= 0:
            return self.rate if count else 0.0
        count -= sum(1 for sent, _ in self._refused if first <= sent <= until)
        return max(0.0, count / span)

    def _level_known(self, ticket: Ticket, now: float) -> bool:
        """Whether `level(ticket)` is final: no request sent before it may still be refused
        (in flight, and younger than the latest a 429 comes)."""
        may_be_refused = now - self.refusal_delay
        for sent in self._tickets.values():  # in the order they were sent
            if sent.sent_at >= may_be_refused:
                return sent.sent_at >= ticket.sent_at
        return True

    def _unconfirmed(self, now: float) -> int:
        """Requests sent too lately for their 429, if any, to have come back yet."""
        horizon = now - self.refusal_delay
        count = 0
        for sent_at in reversed(self._sends):
            if sent_at < horizon:
                break
            count += 1
        return count

    def _probe_period(self) -> float:
        latency = self.latency if self.latency is not None else 1.0
        return PROBE_PERIODS * latency * self._probe_backoff

    # -- changes -----------------------------------------------------------------------------------

    def _cut_to(self, worked: float) -> None:
        """The rate to beta x `worked` (the rate that worked), recovering towards `worked`."""
        self._w_max = max(worked, self.target * MIN_RATE_SHARE)
        self._k = (self._w_max * (1 - CUBIC_BETA) / CUBIC_SCALE) ** (1 / 3)
        self.rate = max(self._w_max * CUBIC_BETA, self.target * MIN_RATE_SHARE)

    def _refine_cut(self, ticket: Ticket, now: float) -> None:
        """A late 429 of the burst that caused the last cut: lower the cut if the rate that worked
        before it was sent is lower than the cut assumed."""
        if now > self._refine_until:
            return
        worked = self.accepted_rate(ticket.sent_at)
        if worked < self._w_max:
            self._cut_to(worked)

    def _set_limit(self, limit: int, now: float) -> None:
        self.concurrency_limit = max(1, min(self.cap, limit))
        self._limit_set_at = now

    def _answered(self, ticket: Ticket) -> None:
        self.in_flight -= 1
        self._tickets.pop(id(ticket), None)

    def _confirm_when_due(self, now: float) -> None:
        """A concurrency cap one below the held level, once the refusals there say so and no
        request sent past that level since may still turn out to have got in."""
        held = self._held_level
        if not self._cap_candidate or held is None:
            return
        known = now - self.refusal_delay  # sent before then and not refused: let in
        for ticket in reversed(self._tickets.values()):
            if ticket.sent_at <= self._held_sent_at:
                break
            if ticket.in_flight > held + 1 and self.level(ticket) > held + 1:
                if ticket.sent_at < known:
                    self._release_hold()  # it got in past the held level: not a cap there
                return  # it may yet
        self.concurrency_cuts += 1
        self._set_limit(held - 1, now)
        self._release_hold()
        # Undo the cut, up to what the cap lets through (Little's law): a rate limit mistaken for
        # a cap keeps its rate.
        allowed = self._rate_before_cut
        if self.latency:
            allowed = min(allowed, (held - 1) / self.latency)
        self.rate = max(self.rate, min(self.target, allowed))
        self._w_max, self._k = self.rate, 0.0  # recovering from here
        self._next_probe = now + self._probe_period()
        self._last_cut = now
        self._refine_until = -math.inf

    def _hold_at(self, now: float, delay: float) -> None:
        """Hold (or keep holding) below the held level until the 429s to what was sent before
        can have come back (`delay`: how long this one took)."""
        self._hold_until = max(self._hold_until, now + HOLD_S + delay)

    def _release_hold(self) -> None:
        self._held_level = None
        self._hold_until = -math.inf
        self._cap_candidate = False

    def _update_rate(self, now: float) -> None:
        """CUBIC recovery since the last cut, capped at the target; past the rate that worked,
        slower when 429s come back late."""
        if self.rate >= self.target or not self.cuts:
            return
        elapsed = now - self._last_cut
        if elapsed > self._k:
            elapsed = self._k + (elapsed - self._k) / max(1.0, self._cut_delay / CUBIC_FEEDBACK_S)
        cubic = CUBIC_SCALE * (elapsed - self._k) ** 3 + self._w_max
        self.rate = min(self.target, max(self.rate, cubic))
