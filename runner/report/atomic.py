"""Write a file so that readers see the old content or the new one, never half of it; and leave a
file that already holds the bytes alone."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from runner.fileio import O_BINARY, OUTPUT_FOLDER, FolderRole, folder_error, temp_beside


def write_atomic(
    path: Path, data: bytes, *, durable: bool = True, role: FolderRole = OUTPUT_FOLDER
) -> None:
    """Write to a temporary file beside `path`, then rename it into place.

    A folder that cannot be written (read-only, full, no permission) raises StateError (exit 3).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = temp_beside(path, ".tmp")
    except OSError as exc:
        raise folder_error(path.parent, exc, path.name, role=role) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            raise folder_error(path.parent, exc, path.name, role=role) from None
        raise


def write_if_changed(path: Path, data: bytes, *, role: FolderRole = OUTPUT_FOLDER) -> bool:
    """write_atomic, unless `path` already holds exactly `data`: then the file is not touched at
    all (its modification time neither), which editors, sync tools and `make` notice. True when
    written."""
    if holds(path, data):
        return False
    write_atomic(path, data, role=role)
    return True


def holds(path: Path, data: bytes) -> bool:
    """Is `path` a regular file (not a link) with exactly these bytes? Only a file of the same
    size is read, so a pipe, a device or a huge file at a report's name is never read."""
    try:
        if not _is_regular(os.lstat(path), len(data)):
            return False
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags | O_BINARY)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "rb") as handle:
            if not _is_regular(os.fstat(handle.fileno()), len(data)):  # swapped meanwhile
                return False
            return handle.read(len(data) + 1) == data
    except OSError:
        return False


def _is_regular(status: os.stat_result, size: int) -> bool:
    return stat.S_ISREG(status.st_mode) and status.st_size == size
