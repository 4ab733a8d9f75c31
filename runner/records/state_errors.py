"""How state-file errors are told: a full, read-only or unwritable disk is said as such.

"Damaged" is kept for a file that really is: its hint (move .backdrop away) would discard the
record of paid work, so a full disk must never get it.
"""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, Protocol, TypeVar, runtime_checkable

from runner.diagnostics import StateError
from runner.fileio import DiskFullError, disk_full, folder_error
from runner.records.state_schema import FRESH_START
from runner.records.state_values import DAMAGED_HINT

P = ParamSpec("P")
R = TypeVar("R")


@runtime_checkable
class HasReserve(Protocol):
    @property
    def has_reserve(self) -> bool: ...

    def release_reserve(self) -> bool: ...


# What reading the state may raise: SQLite's errors, and UnicodeDecodeError when SQLite's own
# message quotes a schema damaged into bytes that are not UTF-8 (Python cannot decode it).
SQLITE_ERRORS = (sqlite3.Error, UnicodeDecodeError)
SqliteError = sqlite3.Error | UnicodeDecodeError

# SQLite's primary result codes for a disk that cannot take the write (not a damaged file).
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 8, 10, 13, 14
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26  # the file's content, not the disk


def _disk_error(path: Path, exc: SqliteError) -> StateError | None:
    """A full, read-only or unwritable disk, said as such (never "damaged": that hint would
    have the user discard the record of paid work)."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    folder = path.parent.parent  # <output_dir>/.backdrop/state.db
    if code == _SQLITE_FULL or "disk is full" in str(exc):
        return disk_full(folder)
    if code == _SQLITE_READONLY or "readonly" in str(exc):
        return folder_error(folder, OSError(errno.EROFS, os.strerror(errno.EROFS)))
    if code in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
        return StateError(
            f"cannot write the state file {path} ({exc})",
            "check the disk holding the output folder (free space, permissions), then run"
            " again: finished jobs and paid answers are kept",
        )
    return None


def _damage(path: Path, exc: SqliteError) -> StateError | None:
    """A state file whose content is wrong (not a full disk or a lock): said as damaged."""
    text = str(exc)
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if isinstance(exc, UnicodeDecodeError):
        reason = "its schema (the tables' definitions) is not UTF-8 text"
    elif "Could not decode to UTF-8" in text:
        reason = "a stored text is not UTF-8"  # the message quotes the bytes: not repeated
    elif "malformed JSON" in text:
        reason = "a stored list is not valid JSON"
    elif code in (_SQLITE_CORRUPT, _SQLITE_NOTADB) or "malformed" in text:
        reason = text
    else:
        return None
    return StateError(f"the state is damaged: {reason} (in {path})", DAMAGED_HINT)


def open_error(path: Path, exc: SqliteError) -> StateError:
    damage = _damage(path, exc)
    if damage is not None:
        return damage
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StateError(
            f"the state file {path} is locked by another program",
            "wait for the other backdrop run to finish, then try again",
        )
    disk = _disk_error(path, exc)
    if disk is not None:
        return disk
    return StateError(f"the state file {path} is damaged or unreadable ({text})", FRESH_START)


def io_error(path: Path, exc: SqliteError) -> StateError:
    damage = _damage(path, exc)
    if damage is not None:
        return damage
    disk = _disk_error(path, exc)
    if disk is not None:
        return disk
    return StateError(
        f"cannot update the state file {path} ({exc})",
        "check free disk space and permissions; already written images are kept",
    )


def room_retry(method: Callable[P, R]) -> Callable[P, R]:
    """A write that found the disk full is tried once more after the reserve is released:
    the state's last writes (a paid answer, above all) get the room kept for them.

    Writes come from several threads: two can find the disk full before either frees the
    reserve. The one that finds it freed already by the other is tried again too: the room
    was freed after it failed, for it as much as for the first."""

    @functools.wraps(method)
    def write(*args: P.args, **kwargs: P.kwargs) -> R:
        store = args[0]
        held = isinstance(store, HasReserve) and store.has_reserve  # before this attempt
        try:
            return method(*args, **kwargs)
        except DiskFullError:
            if not isinstance(store, HasReserve):
                raise
            if not store.release_reserve() and not held:
                raise  # freed before this attempt began: no room came since
            return method(*args, **kwargs)

    return write
