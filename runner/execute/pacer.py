"""`Pacer`: the pacing controller on the event loop. Steps ask it for a slot; it never sleeps.

Waiters queue in order; one timer wakes the queue when the next send is due, and every answer
wakes it too (a slot may have freed). Nothing is created per job up front: a waiter exists only
while a request waits for its slot.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from runner.execute.pacing import PacingController, Ticket


@dataclass
class Slot:
    """One request's permission; tell the pacer how it ended."""

    ticket: Ticket
    generation: bool
    outcome: str = field(default="failed")  # "ok", "refused" or "failed"
    retry_after: float | None = None

    def ok(self) -> None:
        self.outcome = "ok"

    def refused(self, retry_after: float | None) -> None:
        self.outcome, self.retry_after = "refused", retry_after


class Pacer:
    def __init__(
        self, rpm: float, *, max_in_flight: int | None = None, adaptive: bool = True
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.controller = PacingController(
            rpm, now=self._loop.time(), max_in_flight=max_in_flight, adaptive=adaptive
        )
        self._waiters: deque[asyncio.Future[Ticket]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self.max_in_flight_seen = 0

    @asynccontextmanager
    async def slot(self, *, generation: bool = False) -> AsyncIterator[Slot]:
        """Wait for permission to send one request; report its outcome on the yielded Slot."""
        slot = Slot(await self._acquire(), generation)
        try:
            yield slot
        finally:
            self._release(slot)

    async def _acquire(self) -> Ticket:
        waiter: asyncio.Future[Ticket] = self._loop.create_future()
        self._waiters.append(waiter)
        self._pump()
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # Handed a slot that will not be used.
                self.controller.failed(waiter.result(), self._loop.time())
                self._pump()
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def abandon_waiters(self, error: type[Exception]) -> None:
        """Every request waiting for a slot gets `error` instead (the run is stopping)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error())

    def _release(self, slot: Slot) -> None:
        controller, now = self.controller, self._loop.time()
        if slot.outcome == "ok":
            controller.succeeded(slot.ticket, now, generation=slot.generation)
        elif slot.outcome == "refused":
            controller.refused(slot.ticket, now, slot.retry_after)
        else:
            controller.failed(slot.ticket, now)
        self._pump()

    def _pump(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        controller = self.controller
        while self._waiters:
            waiter = self._waiters[0]
            if waiter.done():  # cancelled while queued
                self._waiters.popleft()
                continue
            now = self._loop.time()
            wait = controller.wait(now)
            if wait > 0:
                if not math.isinf(wait):
                    self._timer = self._loop.call_at(now + wait, self._pump)
                return
            self._waiters.popleft()
            waiter.set_result(controller.sent(now))
            self.max_in_flight_seen = max(self.max_in_flight_seen, controller.in_flight)
