"""stdout and stderr that go quiet when their reader goes away (`backdrop run ... | head -4`,
or the terminal of a closed SSH session, whose writes fail with EIO).

A closed pipe must never change what a run does: without this, the first line printed after
`head` exits raises BrokenPipeError in the middle of a job, and a job already done would be
recorded as failed. Part of the CLI layer.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO


class PipeSafeStream:
    """Delegates to a text stream; once a write fails, swallows everything written to it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except OSError:  # EPIPE from a pipe, EIO from a hung-up terminal
                self._go_quiet()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except OSError:
                self._go_quiet()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _go_quiet(self) -> None:
        self.reader_gone = True
        # Point the descriptor at /dev/null: the buffered text still in the stream, and the
        # interpreter's final flush, then go nowhere instead of failing again at exit.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)


@contextlib.contextmanager
def pipe_safe_stdio() -> Iterator[None]:
    """sys.stdout and sys.stderr wrapped for the duration (restored after)."""
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None:
        sys.stdout = PipeSafeStream(sys.stdout)
    if sys.stderr is not None:
        sys.stderr = PipeSafeStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
