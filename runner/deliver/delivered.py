"""Writing into the delivery folder: never through a link, never over a file export did not write,
never a half-written file at a delivered name.

Each delivered file is first made under a temporary name in `--to` (written as it is made, so
that memory holds none of them whole), and put in place by a rename only once every one is
made and none would replace a file that is not export's. A refusal, an error, a full disk or a
stop signal leaves the delivered names as they were, and removes the temporary files.

What export wrote into each delivery folder is kept in the output folder's private
`.backdrop/exports.json` (not in the delivery folder, which is sent on as it is): delivery folder
(resolved) -> delivered path -> the SHA-256 written there, and under "sizes" its size in bytes.
A file in the delivery folder is replaced only when it still holds exactly what an export wrote;
anything else (a photo of the user's, a file edited by hand) stops the export unless --overwrite.
A lost or damaged record can only cost an --overwrite, never a file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from runner.diagnostics import StateError, UsageError, display_path
from runner.fileio import (
    PART_SUFFIX,
    FolderRole,
    NotAFile,
    folder_error,
    is_within,
    kind_of,
    open_regular,
    read_private,
    sha256_stream,
    write_atomic,
)

RECORD_PATH = ".backdrop/exports.json"
_FORMAT = 1
_SHOWN = 10
MAX_RECORD_BYTES = 64 << 20  # larger is not one export wrote: read as no record at all
EXPORT_FOLDER = FolderRole("the export folder", "choose a writable export folder with --to")
STAGING_NAME = "backdrop-export"  # a file being made: .backdrop-export.XXXXXXXX.backdrop-part


class DeliveredRecord:
    """The files export wrote into one delivery folder, as recorded by this output folder."""

    def __init__(self, output_dir: Path, to: Path) -> None:
        self.path = output_dir / RECORD_PATH
        self.folder = os.path.realpath(to)
        self.data: dict[str, Any] = {}
        with contextlib.suppress(ValueError, TypeError, AttributeError, RecursionError):
            data = json.loads(read_private(self.path, MAX_RECORD_BYTES) or b"{}")
            if data.get("format") == _FORMAT and isinstance(data.get("folders"), dict):
                self.data = data
        self.files: dict[str, str] = _mapping(self.data.get("folders"), self.folder)
        self.sizes: dict[str, int] = _mapping(self.data.get("sizes"), self.folder)
        self.changed = False

    @property
    def folders(self) -> dict[str, Any]:
        """Every delivery folder recorded (its real path), with the files written there."""
        folders = self.data.get("folders")
        return folders if isinstance(folders, dict) else {}

    def wrote(self, relative: str, target: Path, found: os.stat_result) -> bool:
        """Is the file at `target` (found by lstat) what an export wrote at `relative`?

        Its size is compared first: a file of another size (say, a 4 GB one) is never read.
        """
        sha = self.files.get(relative)
        if sha is None or not stat.S_ISREG(found.st_mode):
            return False
        size = self.sizes.get(relative)
        if isinstance(size, int) and size != found.st_size:
            return False
        return sha256_of_file(target) == sha

    def note(self, relative: str, sha256: str, size: int) -> None:
        if self.files.get(relative) != sha256 or self.sizes.get(relative) != size:
            self.files[relative] = sha256
            self.sizes[relative] = size
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        folders = self.data.get("folders")
        sizes = self.data.get("sizes")
        data = {
            **self.data,
            "format": _FORMAT,
            "folders": {**(folders if isinstance(folders, dict) else {}), self.folder: self.files},
            "sizes": {**(sizes if isinstance(sizes, dict) else {}), self.folder: self.sizes},
        }
        text = json.dumps(data, sort_keys=True)
        # A read-only output folder only means the next export asks for --overwrite.
        with contextlib.suppress(OSError, StateError):
            write_atomic(self.path, text.encode("utf-8"), durable=False)


def _mapping(folders: object, folder: str) -> dict[str, Any]:
    found = folders.get(folder) if isinstance(folders, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def sha256_of_file(path: Path) -> str | None:
    """A regular file's SHA-256, read in chunks; None for anything else (never opens a pipe)."""
    try:
        handle, _ = open_regular(path)
    except (OSError, NotAFile):
        return None
    with handle:
        return sha256_stream(handle)


@dataclass(frozen=True)
class Staged:
    """A delivered file made under a temporary name, waiting for its rename."""

    relative: str
    temp: Path
    sha256: str
    size: int


class Delivery:
    """The files of one export into `to`: checked, made, then put in place together."""

    def __init__(self, to: Path, record: DeliveredRecord, *, overwrite: bool = False) -> None:
        self.to = to
        self.real = os.path.realpath(to)
        self.record = record
        self.overwrite = overwrite
        self.staged: list[Staged] = []
        self.written: list[str] = []
        self.unchanged: list[str] = []
        self._temps: set[Path] = set()
        self._created: list[Path] = []  # folders this export made, to remove when it fails

    def check_targets(self, names: Sequence[str]) -> None:
        """Refuse, before anything is made, delivered names export must not write or read: a
        link, a folder, a pipe, a device or a socket, or a name under one that is no folder."""
        problems = [problem for name in names if (problem := self._target_problem(name))]
        if not problems:
            return
        shown = "; ".join(problems[:_SHOWN]) + (" ..." if len(problems) > _SHOWN else "")
        raise UsageError(
            f"export cannot write {len(problems)} delivered file(s) in {display_path(self.to)}: "
            f"{shown}",
            hint="move those away from the export folder, or export into another folder",
        )

    def existing(self, relative: str) -> tuple[Path, os.stat_result] | None:
        """The regular file at a delivered name, and its lstat (None: nothing, or not a file)."""
        target = self.to / relative
        try:
            found = os.lstat(target)
        except OSError:
            return None
        return (target, found) if stat.S_ISREG(found.st_mode) else None

    def open_existing(self, relative: str) -> IO[bytes] | None:
        """The regular file at a delivered name, opened without following a link; or None."""
        with contextlib.suppress(OSError, NotAFile):
            return open_regular(self.to / relative)[0]
        return None

    def keep(self, relative: str, sha256: str, size: int) -> None:
        """The file at `relative` already holds these bytes: counted, recorded, not rewritten."""
        self.unchanged.append(relative)
        self.record.note(relative, sha256, size)

    @contextlib.contextmanager
    def stage(self, relative: str) -> Iterator[IO[bytes]]:
        """A temporary file in --to to write `relative` into; a failure to write it (a full
        disk, no permission) is a FolderWriteError about --to (exit 3)."""
        try:
            self._make_folder(self.to)
            fd, temp = self._new_temp(self.to)
        except OSError as exc:
            raise folder_error(self.to, exc, relative, role=EXPORT_FOLDER) from None
        with os.fdopen(fd, "w+b") as handle:
            sink = _Sink(handle, self.to, relative)
            yield sink  # type: ignore[misc]
            try:
                handle.flush()
                handle.seek(0)
                digest = sha256_stream(handle)
                size = handle.tell()
            except OSError as exc:
                raise folder_error(self.to, exc, relative, role=EXPORT_FOLDER) from None
        self.staged.append(Staged(relative, temp, digest, size))

    def commit(self) -> None:
        """Put every staged file in place; a file already holding its bytes is left alone.

        Refuses first, renaming nothing, when one would replace a file no export wrote there
        (unless --overwrite).
        """
        moves: list[Staged] = []
        foreign: list[str] = []
        for staged in self.staged:
            target = self.to / staged.relative
            try:
                found = os.lstat(target)
            except FileNotFoundError:
                moves.append(staged)
                continue
            except OSError as exc:
                raise folder_error(self.to, exc, staged.relative, role=EXPORT_FOLDER) from None
            if not stat.S_ISREG(found.st_mode):  # appeared since check_targets
                raise UsageError(
                    f"{staged.relative} in {display_path(self.to)} is {kind_of(found.st_mode)}, "
                    "not a file",
                    hint="move it away from the export folder, or export into another folder",
                )
            if found.st_size == staged.size and sha256_of_file(target) == staged.sha256:
                self._discard(staged.temp)
                self.keep(staged.relative, staged.sha256, staged.size)
            elif self.overwrite or self.record.wrote(staged.relative, target, found):
                moves.append(staged)
            else:
                foreign.append(staged.relative)
        if foreign:
            shown = ", ".join(foreign[:_SHOWN]) + (" ..." if len(foreign) > _SHOWN else "")
            raise UsageError(
                f"{len(foreign)} file(s) in {display_path(self.to)} were not written by an "
                f"earlier export and would be replaced: {shown}",
                hint="export into an empty folder of its own, e.g. --to delivery/; "
                "or add --overwrite to replace them",
            )
        for staged in moves:
            self._move(staged)
            self.record.note(staged.relative, staged.sha256, staged.size)
            self.written.append(staged.relative)
        self._created.clear()  # delivered: the folders stay

    def discard(self) -> None:
        """Remove every temporary file left (after an error or a stop signal), and the folders
        this export made that are still empty."""
        for temp in list(self._temps):
            self._discard(temp)
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        self._created.clear()

    def _move(self, staged: Staged) -> None:
        target = self.to / staged.relative
        try:
            self._make_folder(target.parent)
            try:
                os.replace(staged.temp, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:  # a folder of --to on another disk: copy there
                    raise
                fd, copy = self._new_temp(target.parent)
                os.close(fd)
                shutil.copyfile(staged.temp, copy)
                os.replace(copy, target)
                self._temps.discard(copy)
                self._discard(staged.temp)
        except OSError as exc:
            raise folder_error(self.to, exc, staged.relative, role=EXPORT_FOLDER) from None
        self._temps.discard(staged.temp)

    def _new_temp(self, folder: Path) -> tuple[int, Path]:
        """A new temporary file in `folder`, named ".backdrop-export.XXXXXXXX.backdrop-part",
        noted before it exists: a stop signal at any moment leaves none behind."""
        for _ in range(100):
            temp = folder / f".{STAGING_NAME}.{secrets.token_hex(4)}{PART_SUFFIX}"
            self._temps.add(temp)
            try:
                return create_staging_file(temp), temp
            except FileExistsError:
                self._temps.discard(temp)
        raise FileExistsError(errno.EEXIST, "no free temporary name", str(folder))

    def _make_folder(self, folder: Path) -> None:
        missing = []
        for candidate in (folder, *folder.parents):
            if os.path.lexists(candidate):
                break
            missing.append(candidate)
        for candidate in reversed(missing):
            self._created.append(candidate)  # noted first, as temporary files are
            candidate.mkdir(exist_ok=True)

    def _discard(self, temp: Path) -> None:
        with contextlib.suppress(OSError):
            temp.unlink()
        self._temps.discard(temp)

    def _target_problem(self, relative: str) -> str | None:
        path = self.to
        parts = relative.split("/")
        for index, part in enumerate(parts):
            path = path / part
            shown = "/".join(parts[: index + 1])
            try:
                found = os.lstat(path)
            except FileNotFoundError:
                return None
            except OSError as exc:
                return f"{shown} cannot be looked at ({exc.strerror or exc})"
            last = index == len(parts) - 1
            if stat.S_ISREG(found.st_mode) and last:
                return None
            if stat.S_ISDIR(found.st_mode) and not last:
                continue
            if stat.S_ISLNK(found.st_mode):
                if last:
                    return f"{shown} is a symbolic link (export never writes through a link)"
                real = os.path.realpath(path)
                if not is_within(real, self.real):
                    return f"the folder {shown} is a link leading out of the export folder"
                if os.path.isdir(real):
                    continue
            kind = kind_of(found.st_mode)
            if last:
                return f"{shown} is {kind}, not a file"
            return f"{shown} is {kind}, where {relative} needs a folder"
        return None


def create_staging_file(path: Path) -> int:
    """Create `path` (which must not exist) for reading and writing; readable by others as the
    umask allows, like any file the user makes (a delivery is for sending on)."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    return os.open(path, flags, 0o666)


class _Sink:
    """A staged file as the writers see it: an error writing it is about --to (exit 3), and not
    mistaken for an error reading a source."""

    def __init__(self, handle: IO[bytes], to: Path, relative: str) -> None:
        self._handle, self._to, self._relative = handle, to, relative

    def write(self, data: bytes) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            raise folder_error(self._to, exc, self._relative, role=EXPORT_FOLDER) from None

    def flush(self) -> None:
        try:
            self._handle.flush()
        except OSError as exc:
            raise folder_error(self._to, exc, self._relative, role=EXPORT_FOLDER) from None

    def tell(self) -> int:
        return self._handle.tell()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._handle.seek(offset, whence)

    def seekable(self) -> bool:
        return True
