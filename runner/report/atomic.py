"""Write a file so that readers see the old content or the new one, never half of it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from runner.fileio import OUTPUT_FOLDER, FolderRole, folder_error, temp_beside


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
