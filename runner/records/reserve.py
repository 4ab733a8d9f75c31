"""Room kept on the output folder's disk for the state's last writes.

Downloads are what fill a disk; the records of answers already paid for must still fit after
that. So a run sets RESERVE_BYTES aside in `.backdrop/reserve` before it spends anything, and
the state releases it when a write finds the disk full (then retries that write once).
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from runner.fileio import O_BINARY

RESERVE_FILE = "reserve"
# A few hundred SQLite pages: the records of every answer in flight, at any --concurrency used
# in practice, and the run's last status marks.
RESERVE_BYTES = 512 * 1024


class DiskReserve:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / RESERVE_FILE
        self.held = False  # the space is set aside now
        self.released = False  # the disk filled up during this session
        self.failure: OSError | None = None  # why make() could not set the space aside

    def make(self) -> bool:
        """Set the space aside (best effort); False when the disk is too full for it."""
        try:
            if self.path.is_file() and self.path.stat().st_size >= RESERVE_BYTES:
                self.held = True
                return True
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | O_BINARY, 0o644)
            try:
                _set_aside(fd)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            self.failure = exc  # full, read-only or not ours to write: said differently
            with contextlib.suppress(OSError):
                self.path.unlink()
            return False
        self.held = True
        return True

    def release(self) -> bool:
        """Free the space; False when there was none left to free."""
        if not self.held:
            return False
        self.held, self.released = False, True
        with contextlib.suppress(OSError):
            self.path.unlink()
        return True


def _set_aside(fd: int) -> None:
    """RESERVE_BYTES of real blocks: allocated where the OS can (Linux), else written out (macOS
    and Windows have no posix_fallocate; a sparse file would set nothing aside)."""
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
            return
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise
            # no fallocate on this file system: written out below
    os.lseek(fd, 0, os.SEEK_SET)
    view = memoryview(bytes(RESERVE_BYTES))
    while view:
        view = view[os.write(fd, view) :]
