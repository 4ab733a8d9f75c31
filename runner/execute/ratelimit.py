"""One client-side rate limit shared by every API request of a run (uploads and generations).

Requests are paced evenly (a GCRA: each request reserves the next free slot), with a small burst
allowance. A 429 calls `penalize`: every request waits until the server's Retry-After moment,
then pacing resumes at a reduced rate that recovers linearly to the configured one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from runner.api.limits import DEFAULT_RPM


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class RateLimiter:
    """Paces requests to at most `rpm` per minute, evenly spaced."""

    def __init__(
        self,
        rpm: float = DEFAULT_RPM,
        *,
        burst: int = 3,
        clock: Clock | None = None,
        slowdown: float = 0.8,
        min_factor: float = 0.25,
        recovery_s: float = 30.0,
    ) -> None:
        if rpm <= 0:
            raise ValueError("rpm must be positive")
        self.rpm = float(rpm)
        self.burst = max(1, burst)
        self._clock: Clock = clock or MonotonicClock()
        self._slowdown = slowdown
        self._min_factor = min_factor
        self._recovery_per_s = (1.0 - min_factor) / recovery_s if recovery_s > 0 else float("inf")
        self._factor = 1.0  # the share of `rpm` currently allowed, reduced by 429s
        self._factor_at = self._clock.now()
        self._tat = float("-inf")  # theoretical arrival time of the next request (GCRA)
        self._blocked_until = float("-inf")
        self._shift = 0.0  # total delay added by penalties, so sleepers can catch up with it
        self.penalties = 0

    def reserve(self, now: float) -> float:
        """Reserve the next slot at or after `now`; return the moment the request may be sent."""
        interval = 60.0 / (self.rpm * self._current_factor(now))
        tolerance = (self.burst - 1) * interval
        tat = max(self._tat, now)
        send_at = max(now, tat - tolerance, self._blocked_until)
        self._tat = max(tat, send_at) + interval
        return send_at

    async def acquire(self) -> None:
        """Wait for this request's slot."""
        clock = self._clock
        now = clock.now()
        shift = self._shift
        wait = self.reserve(now) - now
        while wait > 0:
            await clock.sleep(wait)
            # A 429 while we slept pushed every reserved slot back by the same amount.
            wait, shift = self._shift - shift, self._shift

    def penalize(self, delay: float, now: float | None = None) -> None:
        """The server said 429: nobody sends before now + delay, and the pace slows down."""
        now = self._clock.now() if now is None else now
        until = now + max(0.0, delay)
        if until <= self._blocked_until:
            return  # the same burst of 429s, already accounted for
        shift = until - max(self._blocked_until, now)
        self._blocked_until = until
        self._factor = max(self._min_factor, self._current_factor(now) * self._slowdown)
        self._factor_at = until
        interval = 60.0 / (self.rpm * self._factor)
        # No burst right after the pause: the first request goes at `until`, then evenly spaced.
        self._tat = max(max(self._tat, now) + shift, until + (self.burst - 1) * interval)
        self._shift += shift
        self.penalties += 1

    def _current_factor(self, now: float) -> float:
        if self._factor >= 1.0:
            return 1.0
        elapsed = now - self._factor_at
        if elapsed <= 0:
            return self._factor
        self._factor = min(1.0, self._factor + elapsed * self._recovery_per_s)
        self._factor_at = now
        return self._factor
