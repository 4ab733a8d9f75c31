"""Fault injection: rate limits, 429 bursts, 5xx answers, dropped connections, cut downloads.

What a client sees when the emulator drops a connection or cuts a download short:
- over real sockets (uvicorn): the status line and a Content-Length arrive, then fewer body bytes,
  then the connection closes; httpx raises `httpx.RemoteProtocolError` ("peer closed connection
  without sending complete message body").
- in-process (`httpx.ASGITransport`): the app raises `InjectedDisconnect`, which *is* an
  `httpx.RemoteProtocolError`, so a client's retry logic is exercised the same way.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import httpx

from runner.emulator.config import EmulatorConfig, latency_range
from runner.emulator.ratelimits import RateLimit, window_limit

SERVER_ERRORS = (500, 502, 503, 504)


class InjectedDisconnect(httpx.RemoteProtocolError):
    """The emulator hung up mid-answer on purpose (a dropped connection or a cut download)."""


class DroppedConnection(InjectedDisconnect):
    """An API request whose answer never fully arrived; nothing was stored or charged."""


class TruncatedDownload(InjectedDisconnect):
    """An asset download cut short: fewer bytes than its Content-Length."""


@dataclass(frozen=True)
class Refusal:
    """A 429: why, and the Retry-After to send (None: send no Retry-After header)."""

    reason: str
    retry_after: int | None


class TokenBucket:
    """Requests per minute, refilled smoothly, so a client pacing at the limit is never refused."""

    def __init__(self, per_minute: int, depth: float | None, now: float | None = None) -> None:
        self.rate = per_minute / 60.0
        # Default depth: one second's worth, at least 3 (a paced client's usual burst allowance),
        # never more than the per-minute limit itself.
        self.depth = depth if depth is not None else min(float(per_minute), max(3.0, self.rate))
        self.tokens = self.depth
        self.updated = time.monotonic() if now is None else now

    def take(self, now: float | None = None) -> float:
        """0 when a request may pass (and takes a token), else the seconds until one may."""
        now = time.monotonic() if now is None else now
        self.tokens = min(self.depth, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class FaultInjector:
    """Every random decision the emulator makes, from one (optionally seeded) generator."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.bucket: RateLimit | None = None
        if config.rpm_limit and config.limit_model == "token-bucket":
            self.bucket = TokenBucket(config.rpm_limit, config.rpm_burst)
        elif config.rpm_limit:
            self.bucket = window_limit(config.limit_model, config.rpm_limit)
        self.burst_until = 0.0
        self.latency_range = latency_range(config.latency)
        self.refusal_delay_range = latency_range(config.refusal_delay)
        self.queue_timeout_range = (
            None if config.queue_timeout is None else latency_range(config.queue_timeout)
        )
        self.transfer_latency_range = latency_range(config.transfer_latency)

    def refuse(self, busy: int = 0) -> Refusal | None:
        """A 429 for this API request (`busy`: API requests being answered now), or None.
        A cap that queues (queue_timeout) refuses only once a request has waited: queue_refusal."""
        now = time.monotonic()
        if now < self.burst_until:
            return self._refusal("a burst of 429s", self.burst_until - now)
        if self.config.burst_429 and self.rng.random() < self.config.burst_429:
            self.burst_until = now + self.config.burst_seconds
            return self._refusal("a burst of 429s", self.config.burst_seconds)
        cap = self.config.max_in_flight
        if cap is not None and self.queue_timeout_range is None and busy >= cap:
            return self._refusal(f"more than {cap} requests at once", 1.0)
        if self.bucket is not None:
            wait = self.bucket.take(now)
            if wait > 0:
                return self._refusal(f"more than {self.config.rpm_limit} requests per minute", wait)
        return None

    def queue_refusal(self, waited: float) -> Refusal:
        """The 429 for a request that waited its whole queue timeout without a place."""
        cap = self.config.max_in_flight
        return self._refusal(f"no place of {cap} free within {waited:g} s", 1.0)

    def _refusal(self, reason: str, wait: float) -> Refusal:
        seconds = max(1, math.ceil(wait)) if self.config.retry_after else None
        return Refusal(reason, seconds)

    def latency(self) -> float:
        """Seconds this generation takes."""
        return self._seconds(self.latency_range)

    def refusal_delay(self) -> float:
        """Seconds before this 429 is answered."""
        return self._seconds(self.refusal_delay_range)

    def queue_timeout(self) -> float:
        """Seconds this request may wait for a place under the cap."""
        assert self.queue_timeout_range is not None, "the cap does not queue"
        return self._seconds(self.queue_timeout_range)

    def transfer_latency(self) -> float:
        """Seconds this upload or download takes."""
        return self._seconds(self.transfer_latency_range)

    def _seconds(self, bounds: tuple[float, float]) -> float:
        low, high = bounds
        if high <= 0:
            return 0.0
        if low == high:
            return low
        return self.rng.uniform(low, high)

    def drop(self) -> bool:
        return bool(self.config.drop_rate) and self.rng.random() < self.config.drop_rate

    def server_error(self) -> int | None:
        if self.config.error_rate and self.rng.random() < self.config.error_rate:
            return self.rng.choice(SERVER_ERRORS)
        return None

    def fail_after_charge(self) -> bool:
        rate = self.config.charge_then_fail_rate
        return bool(rate) and self.rng.random() < rate

    def drop_after_charge(self) -> bool:
        rate = self.config.charge_then_drop_rate
        return bool(rate) and self.rng.random() < rate

    def truncate_at(self, length: int) -> int | None:
        """How many bytes of a `length`-byte download to send before hanging up, or None."""
        if (
            length > 1
            and self.config.truncate_rate
            and self.rng.random() < self.config.truncate_rate
        ):
            return self.rng.randrange(1, length)
        return None
