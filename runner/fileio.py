"""Small file-system helpers shared by the stages that write into the output folder."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import IO

from runner.diagnostics import StateError, display_path

# The whole folder (its disk) is unusable, not one file: the run stops.
FOLDER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})

MAX_NAME_BYTES = 255  # a file or folder name, in UTF-8, on common file systems

# Windows opens a descriptor in text mode unless told (LF -> CRLF, Ctrl-Z ends a read): every
# os.open of bytes says O_BINARY, which POSIX does not have (no translation there).
O_BINARY: int = getattr(os, "O_BINARY", 0)
# Windows cannot open a folder with os.open, so it cannot fsync one either (see fsync_dir).
_FOLDERS_OPEN = hasattr(os, "O_DIRECTORY")

# ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION: what Windows answers when
# a file is open in another program (as errno EACCES).
_IN_USE_WINERRORS = frozenset({5, 32, 33})

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
    if not hasattr(os, "fchmod"):  # Windows before Python 3.13: access is the folder's ACL
        return fd, Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    except BaseException:
        os.close(fd)
        os.unlink(name)
        raise
    return fd, Path(name)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable.

    Not on Windows, which cannot open a folder: there NTFS's journal makes the rename durable
    when it is next flushed (within seconds). A power cut before then can undo the rename, and
    the file is then the previous complete version, never a partial one.
    """
    if not _FOLDERS_OPEN:
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_writable(folder: Path) -> None:
    """Make and remove a temporary file in `folder`: a folder that refuses new files (no
    permission, immutable, read-only) is told before anything is paid for, not after."""
    try:
        fd, path = temp_beside(folder / "write-check", PART_SUFFIX)
    except OSError as exc:
        raise folder_error(folder, exc) from None
    os.close(fd)
    try:
        os.unlink(path)
    except OSError as exc:
        raise folder_error(folder, exc) from None


def is_within(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or inside it; both real paths (os.path.realpath). Compared as
    the platform does: case-insensitively on Windows, where another drive is never inside."""
    path, folder = os.path.normcase(path), os.path.normcase(folder)
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # another drive, or one relative and one absolute
        return False


def not_a_folder(path: Path) -> tuple[Path, str] | None:
    """The path, or the nearest existing folder above it, that is no folder, and what it is."""
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return None
        if os.path.lexists(candidate):
            kind = "a file" if candidate.is_file() else "a device, a pipe, a socket or a link"
            return candidate, kind
    return None


class NotAFile(Exception):
    """A path that holds something other than a regular file; `kind` says what ("a pipe")."""

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(f"{path} is {kind}")
        self.path, self.kind = path, kind


def kind_of(mode: int) -> str:
    """What a file-system entry is, in words a user knows."""
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def open_regular(path: Path, *, follow_links: bool = False) -> tuple[IO[bytes], os.stat_result]:
    """Open a regular file for reading, and its stat; NotAFile for anything else.

    Looked at before it is opened, so that a pipe (which blocks the open until a writer comes),
    a device or a socket is never opened; opened without blocking and, unless `follow_links`,
    without following a link, so that one swapped in between is refused too. FileNotFoundError
    and other OSErrors pass through.
    """
    info = os.stat(path) if follow_links else os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise NotAFile(path, kind_of(info.st_mode))
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:  # a link swapped in after the lstat
            raise NotAFile(path, "a symbolic link") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotAFile(path, kind_of(info.st_mode))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), info
    except BaseException:
        os.close(fd)
        raise


def read_private(path: Path, max_bytes: int) -> bytes | None:
    """A small file of Backdrop's own (a cache, a record): None when it is missing, is no
    regular file (a pipe is never opened, a link never followed), is larger than `max_bytes`
    or cannot be read. What it says is still the caller's to check."""
    try:
        handle, found = open_regular(path)
    except (OSError, NotAFile):
        return None
    with handle:
        if found.st_size > max_bytes:
            return None
        try:
            data = handle.read(max_bytes + 1)
        except OSError:
            return None
    return data if len(data) <= max_bytes else None


def sha256_stream(handle: IO[bytes]) -> str:
    """The SHA-256 of what is left to read in `handle`, read in chunks."""
    digest = hashlib.sha256()
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FolderRole:
    """Which folder a failed write was for, and how the command that wrote it lets you pick
    another: each command's hint must name its own option (export has no -o)."""

    name: str
    choose: str


OUTPUT_FOLDER = FolderRole("the output folder", "choose a writable output folder with -o")


class FolderWriteError(StateError):
    """A folder cannot be written: read-only, full or not ours (exit 3); `retold` re-says it
    for another command's role."""

    def __init__(
        self, message: str, hint: str | None, folder: Path, exc: OSError, what: str | None
    ) -> None:
        super().__init__(message, hint)
        self.folder, self.exc, self.what = folder, exc, what

    def retold(self, role: FolderRole) -> StateError:
        return folder_error(self.folder, self.exc, self.what, role=role)


class DiskFullError(FolderWriteError):
    """The disk holding the output folder is full: nothing more can be written (exit 3)."""


def disk_full(folder: Path) -> DiskFullError:
    return DiskFullError(
        f"the disk holding {folder} is full",
        "make room on that disk, then run the same command again: finished jobs and paid"
        " answers are kept, and paid results are downloaded, not generated again",
        folder,
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
        None,
    )


def folder_error(
    folder: Path, exc: OSError, what: str | None = None, *, role: FolderRole = OUTPUT_FOLDER
) -> StateError:
    """What a user needs to know when `what` (a file in `folder`) cannot be written (exit 3).

    The hint never suggests moving the .backdrop folder away: it holds the record of paid work.
    """
    code = exc.errno
    name = f"{what} in " if what else ""
    if code in (errno.ENOSPC, errno.EDQUOT):
        if role is OUTPUT_FOLDER:
            return disk_full(folder)
        return FolderWriteError(
            f"the disk holding {folder} is full",
            f"make room on that disk, or {role.choose}",
            folder,
            exc,
            what,
        )
    if code == errno.EROFS:
        return FolderWriteError(
            f"{role.name} {folder} is on a read-only file system",
            f"{role.choose} (or make that disk writable)",
            folder,
            exc,
            what,
        )
    if code in (errno.EACCES, errno.EPERM):
        # Windows refuses to replace a file that another program holds open (Excel keeps a CSV
        # open while it shows it) with the same error as a missing permission.
        held = what and getattr(exc, "winerror", None) in _IN_USE_WINERRORS
        in_use = "close it in any program that has it open (Excel, a viewer), or " if held else ""
        return FolderWriteError(
            f"no permission to write {name}{folder}",
            f"{in_use}make the folder writable for you, or {role.choose}",
            folder,
            exc,
            what,
        )
    target = folder / what if what else folder
    blocker = not_a_folder(target.parent) if code in (errno.EEXIST, errno.ENOTDIR) else None
    if blocker is not None:  # "File exists" from mkdir: a file sits where a folder must go
        return FolderWriteError(
            f"cannot write {name}{folder}: {display_path(blocker[0])} is {blocker[1]}, "
            "not a folder",
            f"rename or remove {display_path(blocker[0])}, or {role.choose}",
            folder,
            exc,
            what,
        )
    if code == errno.EISDIR:
        return FolderWriteError(
            f"cannot write {name}{folder}: {display_path(target)} is a folder",
            f"rename or remove that folder, or {role.choose}",
            folder,
            exc,
            what,
        )
    return FolderWriteError(
        f"cannot write {name}{folder}: {exc.strerror or exc}", None, folder, exc, what
    )


# --- atomic writes: readers see the old content or the new one, never half of it ----------


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
