"""stdout and stderr that go quiet when their reader goes away (`backdrop run ... | head -4`,
or the terminal of a closed SSH session, whose writes fail with EIO).

A closed pipe must never change what a run does: without this, the first line printed after
`head` exits raises BrokenPipeError in the middle of a job, and a job already done would be
recorded as failed. Part of the CLI layer.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from runner.diagnostics import EXIT_ABORTED

# A reader that went away: EPIPE from a pipe, EIO from a hung-up terminal. Any other failure
# (a redirect into a full or read-only disk) loses output someone wanted: the command fails.
_READER_GONE = frozenset({errno.EPIPE, errno.EIO})


class PipeSafeStream:
    """Delegates to a text stream; once a write fails, swallows everything written to it."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_gone = False
        self.lost: OSError | None = None  # why output was lost, when no reader went away

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._go_quiet(exc)
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except OSError as exc:
                self._go_quiet(exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _go_quiet(self, exc: OSError) -> None:
        self.reader_gone = True
        if exc.errno not in _READER_GONE:
            self.lost = exc
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
    out = PipeSafeStream(sys.stdout) if sys.stdout is not None else None
    if out is not None:
        sys.stdout = out
    if sys.stderr is not None:
        sys.stderr = PipeSafeStream(sys.stderr)
    try:
        yield
    except SystemExit as done:
        if out is not None:
            out.flush()  # what is still buffered may be what cannot be written
        if out is None or out.lost is None or done.code not in (0, None):
            raise
        sys.stdout, sys.stderr = saved
        print(
            f"error: what this command printed could not all be written: {out.lost.strerror}",
            file=sys.stderr,
        )
        print(
            "    hint: make room on that disk, or send the output to another file, then run "
            "the same command again",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_ABORTED) from None
    finally:
        sys.stdout, sys.stderr = saved
