"""The ways a server may count its rate limit, for the emulator to play each of them.

1min.ai does not document how it counts its 180 requests a minute, so a client must cope with
each: a token bucket with a small burst (the default), a sliding 1-second window, and a fixed
window per second or per minute. Each answers `take(now)`: 0 when a request may pass (and counts
it), else the seconds until one may.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

# The names `--limit-model` accepts.
LIMIT_MODELS = ("token-bucket", "sliding-1s", "fixed-1s", "fixed-60s")


class RateLimit(Protocol):
    def take(self, now: float | None = None) -> float: ...


class SlidingWindow:
    """At most `count` accepted requests in any `window` seconds."""

    def __init__(self, count: int, window: float) -> None:
        self.count, self.window = max(1, count), window
        self.accepted: deque[float] = deque()

    def take(self, now: float | None = None) -> float:
        assert now is not None
        accepted = self.accepted
        while accepted and accepted[0] <= now - self.window:
            accepted.popleft()
        if len(accepted) >= self.count:
            return accepted[0] + self.window - now
        accepted.append(now)
        return 0.0


class FixedWindow:
    """At most `count` requests per window of `window` seconds, counted from the clock's zero."""

    def __init__(self, count: int, window: float) -> None:
        self.count, self.window = max(1, count), window
        self.current, self.used = -1, 0

    def take(self, now: float | None = None) -> float:
        assert now is not None
        index = math.floor(now / self.window)
        if index != self.current:
            self.current, self.used = index, 0
        if self.used >= self.count:
            return (index + 1) * self.window - now
        self.used += 1
        return 0.0


def window_limit(model: str, per_minute: int) -> RateLimit:
    """A window model for `per_minute` requests a minute: 'sliding-1s', 'fixed-1s', 'fixed-60s'."""
    if model == "sliding-1s":
        return SlidingWindow(math.floor(per_minute / 60), 1.0)
    if model == "fixed-1s":
        return FixedWindow(math.floor(per_minute / 60), 1.0)
    if model == "fixed-60s":
        return FixedWindow(per_minute, 60.0)
    raise ValueError(f"limit model {model!r} is not one of {', '.join(LIMIT_MODELS)}")
