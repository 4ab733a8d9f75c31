"""The folder guard: one run per output folder at a time, through `<output_dir>/.backdrop/lock`.

Not backdrop.lock (the record of what was generated) nor review.yaml's guard: the file is held
with runner/exclusive.py's lock, which belongs to the process: the OS releases it when the process
dies, even by kill -9, so a stale lock file never blocks the next run. The holder leaves its
pid in the file only so that the refusal can name it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

from runner.diagnostics import StateError
from runner.exclusive import CannotLock, ExclusiveFile
from runner.fileio import folder_error
from runner.records.state_folder import STATE_DIR, check_state_folder


class FolderGuard:
    """`with FolderGuard(output_dir):` holds the folder for this process, or raises StateError."""

    def __init__(self, output_dir: Path) -> None:
        self.output_dir = Path(output_dir)
        self.path = self.output_dir / STATE_DIR / "lock"
        self._lock = ExclusiveFile(self.path)

    def acquire(self) -> None:
        if self._lock.held:
            return
        # The lock file is truncated and written: never through a link that leads out of the
        # project (ExclusiveFile's O_NOFOLLOW covers only the file's own name, not .backdrop).
        check_state_folder(self.output_dir)
        try:
            taken = self._lock.try_acquire()
        except CannotLock as exc:
            raise StateError(
                f"cannot lock {self.path}: {exc.strerror or exc}",
                "put the output folder on a local disk",
            ) from None
        except OSError as exc:
            raise folder_error(self.output_dir, exc, f"{STATE_DIR}/lock") from None
        if not taken:
            holder = self._lock.holder_note
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise StateError(
                f"another backdrop run is using {self.output_dir}{who}",
                "wait for it to finish, or stop it (Ctrl-C) and run again; "
                "a different output folder also works",
            )
        with contextlib.suppress(OSError):  # a full disk: the refusal just names no pid
            self._lock.write_note(str(os.getpid()))

    def release(self) -> None:
        self._lock.release()

    @property
    def held(self) -> bool:
        return self._lock.held

    def __enter__(self) -> FolderGuard:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
