"""The places under a concurrency cap, and the first-come-first-served queue for them.

A server that queues (`--queue-timeout`) lets a request past the cap wait for a place: the
request that leaves hands its place to the one that has waited longest, so a waiting request
never holds a place, and one that stops waiting (its time is up, or its client left) takes
nothing with it.
"""

from __future__ import annotations

from collections import deque

import anyio


class Places:
    """Requests holding a place (`busy`), and those waiting for one, in order of arrival."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap  # None: no queue (a cap that refuses at once is checked on arrival)
        self.busy = 0
        self._waiting: deque[anyio.Event] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def take_free(self) -> bool:
        """Take a place now if one is free and nobody waits for one (they come first)."""
        if self.cap is None or (self.busy < self.cap and not self._waiting):
            self.busy += 1
            return True
        return False

    async def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds behind those already waiting: True with a place held."""
        handed = anyio.Event()
        self._waiting.append(handed)
        try:
            with anyio.move_on_after(timeout):
                await handed.wait()
        except BaseException:  # cancelled (the client left): give back what was handed over
            self._stop_waiting(handed)
            raise
        if handed.is_set():  # handed a place, perhaps just as the time ran out: keep it
            return True
        self._stop_waiting(handed)
        return False

    def leave(self) -> None:
        """Give up a place held: to the request waiting longest, or back to the free ones."""
        if self._waiting:
            self._waiting.popleft().set()  # `busy` stays: the place changes hands
        else:
            self.busy -= 1

    def _stop_waiting(self, handed: anyio.Event) -> None:
        if handed.is_set():
            self.leave()  # the place was ours already: pass it on
        else:
            self._waiting.remove(handed)
