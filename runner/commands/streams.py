"""stdout and stderr as the CLI writes them: quiet when their reader goes away, and unable to
carry a terminal escape or a CI workflow command that Backdrop did not mean to write.

A closed pipe (`backdrop run ... | head -4`, or the terminal of a closed SSH session, whose
writes fail with EIO) must never change what a run does: without this, the first line printed
after `head` exits raises BrokenPipeError in the middle of a job, and a job already done would
be recorded as failed.

Every byte Backdrop prints passes the guard (`guarded_stdio`): click, rich, print, logging and
warnings alike, whoever forgot to escape a value. Only `write_workflow_commands` writes an
annotation line as is, and only one that is well formed. Part of the CLI layer.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from runner.diagnostics import EXIT_ABORTED
from runner.printable import CommandGuard, inert

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


def _nowhere(opened: list[TextIO]) -> TextIO:
    stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (closed by the caller)
    opened.append(stream)
    return stream


@contextlib.contextmanager
def pipe_safe_stdio() -> Iterator[None]:
    """sys.stdout and sys.stderr wrapped for the duration (restored after)."""
    saved = sys.stdout, sys.stderr
    # A descriptor closed before the start (`backdrop run >&-`): Python leaves it None. Nobody
    # reads it, as when a pipe's reader is gone, so what is printed there goes nowhere.
    nowhere: list[TextIO] = []
    if sys.stdout is None:
        sys.stdout = _nowhere(nowhere)
    if sys.stderr is None:
        sys.stderr = _nowhere(nowhere)
    out = PipeSafeStream(sys.stdout)
    sys.stdout = out
    sys.stderr = PipeSafeStream(sys.stderr)
    try:
        yield
    except SystemExit as done:
        out.flush()  # what is still buffered may be what cannot be written
        if out.lost is None or done.code not in (0, None):
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
        for stream in nowhere:
            stream.close()


# Backdrop's own annotations, as runner/commands/github.py builds them (toolkit escaping: no CR,
# LF, "," or ":" in a property, no CR or LF in the message), free of control characters but tab.
_OWN_COMMAND = re.compile(
    r"::(?:error|warning|notice)(?: [A-Za-z]+=[^\x00-\x08\x0a-\x1f\x7f-\x9f:,]*"
    r"(?:,[A-Za-z]+=[^\x00-\x08\x0a-\x1f\x7f-\x9f:,]*)*)?::[^\x00-\x08\x0a-\x1f\x7f-\x9f]*"
)
# click reaches past a wrapper through `buffer` (to rewrap it, or for Windows consoles); so
# would anything else that looked for the bytes underneath.
_HIDDEN = frozenset({"buffer", "raw", "detach"})


class GuardedStream:
    """A text stream on which no write can act on a terminal or start a workflow command:
    control characters are written out (as \\u001b, which a JSON string reads back as the same
    character) and commands defanged line by line (runner/printable.py's CommandGuard)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._guard = CommandGuard()
        self._lock = threading.Lock()  # the emulator's and the review page's threads log too
        self.styled = StyledStream(self)

    def write(self, text: str) -> int:
        self._write(inert(text))
        return len(text)

    def _write(self, text: str) -> None:
        with self._lock:
            self._stream.write(self._guard.feed(text))

    def write_workflow_command(self, line: str) -> None:
        """An annotation Backdrop means, on a line of its own (anything else: ValueError)."""
        _check_own_command(line)
        with self._lock:
            start = "" if self._guard.at_line_start else "\n"
            self._stream.write(f"{start}{line}\n")
            self._guard.line_broken()

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        if name in _HIDDEN:
            raise AttributeError(name)
        return getattr(self._stream, name)


class StyledStream:
    """The same stream for rich's consoles: its colours and cursor moves (CSI sequences, CR)
    pass, nothing else does; values reach rich already written out (runner/commands/terminal.py)."""

    def __init__(self, guarded: GuardedStream) -> None:
        self._guarded = guarded

    def write(self, text: str) -> int:
        self._guarded._write(inert(text, styled=True))
        return len(text)

    def flush(self) -> None:
        self._guarded.flush()

    def isatty(self) -> bool:
        return self._guarded.isatty()

    def fileno(self) -> int:
        return self._guarded.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._guarded, name)


_guarded_stdout: list[GuardedStream] = []  # the innermost guarded_stdio's, for annotations


@contextlib.contextmanager
def guarded_stdio() -> Iterator[None]:
    """sys.stdout and sys.stderr guarded for the duration (restored after)."""
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None:
        sys.stdout = GuardedStream(sys.stdout)
        _guarded_stdout.append(sys.stdout)
    if sys.stderr is not None:
        sys.stderr = GuardedStream(sys.stderr)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                if stream is not None:
                    stream.flush()
        if saved[0] is not None:
            _guarded_stdout.pop()
        sys.stdout, sys.stderr = saved


def styled_stdout() -> TextIO:
    """Where rich writes: the guarded stdout's styled side, or stdout as it is."""
    out = sys.stdout
    return out.styled if isinstance(out, GuardedStream) else out  # type: ignore[return-value]


def write_workflow_commands(lines: Sequence[str]) -> None:
    """Backdrop's own annotations to stdout, each on a line of its own; anything else refused
    (a bug: the guard would have defanged it, and the annotation would be lost). Written to
    the guarded stdout itself, past whatever sits on it (rich's live display would wrap them)."""
    for line in lines:
        _check_own_command(line)
    if not _guarded_stdout:  # the library, or a test's CliRunner: no guard to pass
        sys.stdout.write("".join(line + "\n" for line in lines))
        return
    if sys.stdout is not _guarded_stdout[-1]:
        sys.stdout.flush()  # what was printed before comes before
    for line in lines:
        _guarded_stdout[-1].write_workflow_command(line)


def _check_own_command(line: str) -> None:
    if not _OWN_COMMAND.fullmatch(line):
        raise ValueError(f"not an annotation Backdrop writes: {line[:80]!r}")
