"""Adaptive concurrency (AIMD): how many API requests may be in flight at once.

The limit starts at the configured maximum, grows by one per `limit` successes, and shrinks by a
factor on congestion (429, 5xx, timeouts), at most once per window of in-flight requests, so a
burst of failures from one moment counts once.
"""

from __future__ import annotations

import asyncio
from collections import deque


class AdaptiveLimit:
    def __init__(self, maximum: int, *, minimum: int = 1, decrease: float = 0.7) -> None:
        if maximum < 1:
            raise ValueError("maximum must be at least 1")
        self.maximum = maximum
        self.minimum = max(1, min(minimum, maximum))
        self._decrease = decrease
        self._limit = float(maximum)
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._completed = 0
        self._next_decrease_at = 0  # completions before congestion may shrink the limit again

    @property
    def limit(self) -> int:
        return max(self.minimum, int(self._limit))

    @property
    def in_use(self) -> int:
        return self._in_use

    async def acquire(self) -> None:
        if self._in_use < self.limit and not self._waiters:
            self._in_use += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._in_use -= 1  # we were handed a slot but will not use it
                self._wake()
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self._in_use -= 1
        self._completed += 1
        self._wake()

    def on_success(self) -> None:
        if self._limit < self.maximum:
            self._limit = min(float(self.maximum), self._limit + 1.0 / self._limit)
            self._wake()

    def on_congestion(self) -> None:
        if self._completed < self._next_decrease_at:
            return
        self._limit = max(float(self.minimum), self._limit * self._decrease)
        self._next_decrease_at = self._completed + max(1, self._in_use)

    def _wake(self) -> None:
        while self._waiters and self._in_use < self.limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)
