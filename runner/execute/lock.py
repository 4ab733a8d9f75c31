"""One run per output folder at a time, through an flock on `<output_dir>/.backdrop/lock`.

flock belongs to the open file, so the kernel releases it when the process dies, even by
kill -9: a stale lock file never blocks the next run. The holder writes its pid into the file
only so that the refusal can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from runner.diagnostics import StateError
from runner.fileio import folder_error

STATE_DIR = ".backdrop"


class OutputLock:
    """`with OutputLock(output_dir):` holds the folder for this process, or raises StateError."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = Path(output_dir)
        self.path = self.output_dir / STATE_DIR / "lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        from runner.execute.state_folder import check_state_folder

        check_state_folder(self.output_dir)  # the lock is truncated: never through a link
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise folder_error(self.output_dir, exc, f"{STATE_DIR}/lock") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise StateError(
                f"another backdrop run is using {self.output_dir}{who}",
                "wait for it to finish, or stop it (Ctrl-C) and run again; "
                "a different output folder also works",
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StateError(
                f"cannot lock {self.path}: {exc.strerror or exc}",
                "put the output folder on a local disk",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):  # the lock goes with the close anyway
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the only descriptor releases the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
