"""The signals that stop a run, delivered to its event loop on every platform.

Ctrl-C (SIGINT), `docker stop` or a CI cancel (SIGTERM) and a closed SSH session (SIGHUP) all
stop a run the same way: drain, record, exit 128 + the signal's number. Windows has no SIGHUP;
its console sends Ctrl-Break as SIGBREAK, which stops a run as Ctrl-C does there.

Where the loop can watch signals itself (add_signal_handler: Linux, macOS) it does. Windows'
loop cannot, so there a plain signal handler hands the signal to the loop instead: without it,
asyncio turns Ctrl-C into a cancellation that abandons the requests in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType

STOP_SIGNALS: tuple[int, ...] = tuple(
    sig
    for sig in (
        signal.SIGINT,
        signal.SIGTERM,
        getattr(signal, "SIGHUP", None),  # not on Windows
        getattr(signal, "SIGBREAK", None),  # Windows only: Ctrl-Break
    )
    if sig is not None
)


@contextlib.contextmanager
def stop_signals_to(
    loop: asyncio.AbstractEventLoop, on_signal: Callable[[int], None]
) -> Iterator[None]:
    """Call `on_signal(signum)` on the loop for each stop signal, until the block ends. In the
    main thread only: signals reach no other."""
    undo: list[Callable[[], object]] = []
    try:
        for signum in STOP_SIGNALS:
            undo.append(_install(loop, signum, on_signal))
        yield
    finally:
        for step in reversed(undo):
            step()


def _install(
    loop: asyncio.AbstractEventLoop, signum: int, on_signal: Callable[[int], None]
) -> Callable[[], object]:
    """Route `signum` to the loop; returns how to undo it."""
    try:
        loop.add_signal_handler(signum, on_signal, signum)
        return lambda: loop.remove_signal_handler(signum)
    except NotImplementedError:  # Windows' proactor loop
        pass

    def handler(received: int, frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes; the loop then runs on_signal itself.
        loop.call_soon_threadsafe(on_signal, received)

    previous = signal.signal(signum, handler)
    return lambda: signal.signal(signum, signal.SIG_DFL if previous is None else previous)
