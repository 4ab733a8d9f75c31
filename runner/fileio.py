"""Small file-system helpers shared by the stages that write into the output folder."""

from __future__ import annotations

import errno
import os
import tempfile
from functools import cache
from pathlib import Path

from runner.diagnostics import StateError

# The whole folder (its disk) is unusable, not one file: the run stops.
FOLDER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})

# A download is written first as ".<name>.<8 random characters><PART_SUFFIX>" beside its target.
PART_SUFFIX = ".backdrop-part"
TEMP_NAME_EXTRA = len(".." + "X" * 8 + PART_SUFFIX)  # bytes a temporary name adds to the target's


@cache
def _umask() -> int:
    # /proc avoids os.umask's set-and-restore, which races with other threads.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_beside(target: Path, suffix: str) -> tuple[int, Path]:
    """A new hidden temporary file in target's folder (same file system, so rename is atomic).

    mkstemp creates files readable by their owner only, and os.replace keeps that mode; images
    and reports are for everyone the umask allows, like any file the user creates.
    """
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    return fd, Path(name)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DiskFullError(StateError):
    """The disk holding the output folder is full: nothing more can be written (exit 3)."""


def disk_full(folder: Path) -> DiskFullError:
    return DiskFullError(
        f"the disk holding {folder} is full",
        "make room on that disk, then run the same command again: finished jobs and paid"
        " answers are kept, and paid results are downloaded, not generated again",
    )


def folder_error(folder: Path, exc: OSError, what: str | None = None) -> StateError:
    """What a user needs to know when `what` (a file in `folder`) cannot be written (exit 3).

    The hint never suggests moving the .backdrop folder away: it holds the record of paid work.
    """
    code = exc.errno
    name = f"{what} in " if what else ""
    if code in (errno.ENOSPC, errno.EDQUOT):
        return disk_full(folder)
    if code == errno.EROFS:
        return StateError(
            f"the output folder {folder} is on a read-only file system",
            "choose a writable output folder with -o (or make that disk writable)",
        )
    if code in (errno.EACCES, errno.EPERM):
        return StateError(
            f"no permission to write {name}{folder}",
            "make the folder writable for you, or choose another output folder with -o",
        )
    return StateError(f"cannot write {name}{folder}: {exc.strerror or exc}")
