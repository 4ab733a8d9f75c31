"""Exclusive locks between processes, on every platform: the one helper every lock goes through.

The lock is filelock's native one on a descriptor we own (flock on Linux and macOS, LockFileEx
on byte 0 on Windows): the operating system drops it when the process ends, even by kill -9 or
a closed console, so a stale lock file never blocks anyone and needs no clean-up. Two holders
in one process exclude each other too (each has its own descriptor).

A holder may leave a short note in the file (its pid, for the refusal to name it). Windows'
lock is mandatory on the byte it covers, so the note starts after byte 0: others can read it.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from runner.fileio import O_BINARY

NOTE_OFFSET = 1  # byte 0 is the one Windows locks: nobody but the holder may read it
_NOTE_BYTES = 64
_POLL_S = 0.01
# Text mode would turn "\n" into "\r\n" on Windows; a symlink planted in place of the lock file
# must not be followed (opening it read-write and truncating it would damage its target).
_FLAGS = os.O_RDWR | os.O_CREAT | O_BINARY | getattr(os, "O_NOFOLLOW", 0)


class CannotLock(OSError):
    """The lock file opened, but its file system cannot lock it (some network shares)."""


class ExclusiveFile:
    """An exclusive lock on one file, held through an open descriptor until release()."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self.holder_note = ""  # what the holder that kept the last try_acquire out wrote

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self, wait: float = 0.0) -> bool:
        """Take the lock, waiting at most `wait` seconds for another holder to let go.

        False if another holder keeps it; OSError if the file cannot be created or opened (a
        read-only folder), CannotLock if its file system cannot lock.
        """
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, _FLAGS, 0o644)
        try:
            deadline = time.monotonic() + wait
            while not _lock_now(fd):
                if time.monotonic() >= deadline:
                    self.holder_note = _read_note(fd)
                    os.close(fd)
                    return False
                time.sleep(_POLL_S)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def write_note(self, note: str) -> None:
        """Leave `note` (one short line) for those the lock keeps out to read."""
        if self._fd is None:
            raise RuntimeError("write_note without the lock")
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.write(self._fd, b"\n" + note.encode("utf-8") + b"\n")

    def release(self) -> None:
        if self._fd is None:
            return
        from filelock import unlock_descriptor

        fd, self._fd = self._fd, None
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # the note goes with the holder
            with contextlib.suppress(OSError):  # the close releases it anyway
                # Windows may release a lock some time after the close; unlocking does not wait.
                unlock_descriptor(fd)
        finally:
            os.close(fd)


def _lock_now(fd: int) -> bool:
    from filelock import lock_descriptor

    try:
        return lock_descriptor(fd, blocking=False)
    except OSError as exc:
        raise CannotLock(exc.errno, exc.strerror) from None


def _read_note(fd: int) -> str:
    try:
        os.lseek(fd, NOTE_OFFSET, os.SEEK_SET)
        data = os.read(fd, _NOTE_BYTES)
    except OSError:
        return ""
    return data.decode("utf-8", "replace").strip()
