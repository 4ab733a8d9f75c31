"""Reading a file a recipe names, safely: refused before reading when it is not a regular file
or larger than a cap."""

from __future__ import annotations

import stat
from pathlib import Path


class FileProblem(Exception):
    """A file cannot be read safely; `message` reads well after "the file"."""

    def __init__(self, message: str, hint: str | None = None, *, kind: str = "other") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind  # "missing", "folder", "large" or "other"


def read_bounded(path: Path, max_bytes: int, too_large_hint: str | None = None) -> bytes:
    """A regular file's bytes, refused before reading when it is larger than `max_bytes`.

    Checking the size first keeps a huge file (or /dev/zero, a pipe) from filling the memory
    or blocking forever. Raises FileProblem.
    """
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise FileProblem("is a folder, not a file", kind="folder")
        if not stat.S_ISREG(info.st_mode):
            raise FileProblem(
                "is not a regular file (it is a device, a pipe or a socket)",
                "give the path of an ordinary file",
            )
        if info.st_size > max_bytes:
            raise FileProblem(_too_large(info.st_size, max_bytes), too_large_hint, kind="large")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        hint = "check the path and the spelling"
        raise FileProblem("does not exist", hint, kind="missing") from None
    except PermissionError:
        raise FileProblem(
            "cannot be read (permission denied)", "check the file's permissions"
        ) from None
    except OSError as exc:
        raise FileProblem(f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # it grew after the check
        raise FileProblem(_too_large(len(data), max_bytes), too_large_hint, kind="large")
    return data


def _too_large(size: int, limit: int) -> str:
    return f"is too large ({_megabytes(size)}; the limit is {_megabytes(limit)})"


def _megabytes(size: int) -> str:
    mebibyte = 1024 * 1024
    return f"{size / mebibyte:,.1f} MB" if size >= mebibyte else f"{size:,} bytes"
