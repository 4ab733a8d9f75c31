"""Result images on disk: written atomically, verified, and never outside the output folder.

A result is streamed to a hidden temporary file in its target folder (same filesystem), checked
with Pillow (format, full decode, size), fsynced, renamed into place with os.replace and the
folder fsynced. So an output path holds either nothing, the previous file, or a complete image.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import warnings
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from runner.api.errors import RejectedError, TransientError
from runner.api.limits import PIL_FORMATS
from runner.diagnostics import StateError
from runner.fileio import PART_SUFFIX, folder_error, fsync_dir, temp_beside
from runner.records.run_records import MAX_OUTPUT_BYTES, FileRecord
from runner.records.state_folder import STATE_DIR

if TYPE_CHECKING:
    from runner.api.client import OneMinClient

# The whole disk is unusable: nothing more can be written, so the run stops.
RUN_WIDE_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT})
# No permission to create a file in a folder of the output folder (a chmod, `chattr +i`): every
# later download there would fail the same way after its generation was paid, so the run stops
# too. Replacing one file that is locked or immutable itself stays that file's problem.
NO_PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM})


class OutputWriteError(StateError):
    """One output file cannot be written (a file where a folder should be, a name too long, no
    permission, a path out of the output folder): that job fails, the run goes on."""


class DiskUnusableError(StateError):
    """The output folder's disk is full or read-only: nothing more can be written."""


# Fills an open temporary file, e.g. `lambda f: client.download(key, f, max_bytes=...)`.
Filler = Callable[[BinaryIO], Awaitable[object]]


def resolve_output(output_dir: Path, dest: str | Path) -> tuple[Path, str]:
    """(absolute path, POSIX path relative to the output folder); StateError if it escapes."""
    root = Path(output_dir).resolve()
    candidate = Path(dest)
    target = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if target == root or not target.is_relative_to(root):
        raise OutputWriteError(
            f"the output path {dest} is outside the output folder {root}",
            "output paths must stay inside the output folder (no '..' or links out of it)",
        )
    relative = target.relative_to(root)
    if relative.parts[0] == STATE_DIR:
        raise OutputWriteError(
            f"the output path {dest} is inside backdrop's own {STATE_DIR} folder"
        )
    return target, relative.as_posix()


async def write_verified(
    output_dir: Path,
    dest: str | Path,
    source: AsyncIterable[bytes] | Filler,
    *,
    expected_format: str,
    expected_size: tuple[int, int] | None,
    max_bytes: int = MAX_OUTPUT_BYTES,
    existing: ExistingFile | None = None,
    expected_compression: int | None = None,
    notes: list[str] | None = None,
    stop_writing: Callable[[], bool] | None = None,
) -> FileRecord:
    """Stream `source` into `dest` atomically after checking it is the image we asked for.

    `source` is an async iterable of chunks, or a coroutine function that writes into a file.
    A bad image raises TransientError (retry the download, not the generation). A whole image
    of another format is converted to the one asked for (at expected_compression), and one of
    another size kept as it is: it was paid for, and the same bytes would come again. Either
    is told in `notes`. A file that cannot be written raises OutputWriteError, a full or
    read-only disk DiskUnusableError. The temporary file is removed on every failure,
    cancellation too. Once `stop_writing()` is true (the disk filled: the room left is for the
    records of answers already paid for), the next chunk is not written: the download ends as
    on a full disk, and its temporary file gives its room back.
    """
    import asyncio  # here: `plan` and `status` import this module for files_intact alone

    if expected_format not in PIL_FORMATS:
        raise ValueError(f"unknown output format {expected_format!r}")
    target, relative = resolve_output(output_dir, dest)
    # Off the event loop: creating files competes with the fsyncs of other downloads.
    fd, tmp = await asyncio.to_thread(_make_temp, output_dir, target, relative)
    try:
        try:
            with os.fdopen(fd, "wb") as opened:
                handle = opened if stop_writing is None else _stop_when(opened, stop_writing)
                if isinstance(source, AsyncIterable):
                    await _copy_chunks(source, handle, max_bytes, relative)
                else:
                    await source(handle)
                handle.flush()
        except OSError as exc:  # writing the bytes: a full disk, mostly
            raise _write_error(relative, exc, output_dir, creating=True) from None
        record = await asyncio.to_thread(
            _verify_and_commit,
            output_dir,
            tmp,
            target,
            relative,
            expected_format,
            expected_size,
            existing,
            expected_compression,
            notes,
        )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return record


def _stop_when(file: BinaryIO, stop: Callable[[], bool]) -> BinaryIO:
    return cast("BinaryIO", _StopWhen(file, stop))  # all the writers call: write and flush


class _StopWhen:
    """A file to write into that refuses further chunks, as a full disk does, once `stop()`."""

    def __init__(self, file: BinaryIO, stop: Callable[[], bool]) -> None:
        self._file = file
        self._stop = stop

    def write(self, chunk: bytes) -> int:
        if self._stop():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._file.write(chunk)

    def flush(self) -> None:
        self._file.flush()


def _make_temp(output_dir: Path, target: Path, relative: str) -> tuple[int, Path]:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        resolve_output(output_dir, target)  # again, now that the folders exist (links)
        fd, tmp = temp_beside(target, PART_SUFFIX)
    except OSError as exc:
        raise _write_error(relative, exc, output_dir, creating=True) from None
    return fd, tmp


async def download_verified(
    client: OneMinClient,
    key: str,
    *,
    output_dir: Path,
    dest: str | Path,
    expected_format: str,
    expected_size: tuple[int, int] | None,
    max_bytes: int = MAX_OUTPUT_BYTES,
    url: str | None = None,
    existing: ExistingFile | None = None,
    expected_compression: int | None = None,
    notes: list[str] | None = None,
    stop_writing: Callable[[], bool] | None = None,
) -> FileRecord:
    """Download result `key` (or the presigned `url`) into `dest`, verified and atomic; a file
    found there that backdrop did not write is kept (see `keep_edited`); see write_verified."""

    async def fill(handle: BinaryIO) -> int:
        return await client.download(key, handle, max_bytes=max_bytes, url=url)

    return await write_verified(
        output_dir,
        dest,
        fill,
        expected_format=expected_format,
        expected_size=expected_size,
        max_bytes=max_bytes,
        existing=existing,
        expected_compression=expected_compression,
        notes=notes,
        stop_writing=stop_writing,
    )


def verify_existing(path: Path, sha256: str, size: int | None = None) -> bool:
    """Is the file there with this content? Size first (cheap), then the hash."""
    try:
        if not path.is_file():
            return False
        if size is not None and path.stat().st_size != size:
            return False
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest() == sha256
    except OSError:
        return False


class ExistingFile:
    """A file found where a download goes: what the state says backdrop wrote there, and where
    the file went if it had to be kept (set while the download is committed)."""

    def __init__(self, recorded: tuple[str, int] | None) -> None:
        self.recorded = recorded
        self.moved_to: str | None = None


def keep_edited(
    output_dir: Path, relative: str, recorded: tuple[str, int] | None, fresh_sha256: str
) -> str | None:
    """Move aside a file at `relative` that is not what backdrop wrote there (retouched since,
    or someone else's), as NAME.edited.EXT; returns where it went, or None when nothing moved.
    Called just before a verified download replaces it: never overwrite a file backdrop did not
    write. A file with the fresh download's very bytes is backdrop's own (written, then the run
    died before recording it) and is simply replaced."""
    path = Path(output_dir) / relative
    if not path.is_file() or (recorded is not None and verify_existing(path, *recorded)):
        return None
    if verify_existing(path, fresh_sha256):
        return None
    pure = PurePosixPath(relative)
    for number in range(1, 1000):
        extra = "" if number == 1 else f"-{number}"
        name = f"{pure.stem}.edited{extra}{pure.suffix}"
        aside = path.with_name(name)
        if not os.path.lexists(aside):
            try:
                os.rename(path, aside)
            except OSError as exc:
                raise _write_error(relative, exc, output_dir) from None
            return (pure.parent / name).as_posix()
    raise OutputWriteError(
        f"{relative} was edited, and there is no free name left to keep the edit under",
        "move the .edited copies out of that folder, then run again",
    )


def files_intact(output_dir: Path, outputs: Sequence[str], files: Sequence[FileRecord]) -> bool:
    """Does every planned output exist as recorded? (A done job is skipped only when so.)"""
    by_path = {record.path: record for record in files}
    if len(by_path) != len(outputs):
        return False
    root = Path(output_dir)
    for output in outputs:
        record = by_path.get(output)
        if record is None or not verify_existing(root / output, record.sha256, record.bytes):
            return False
    return True


def clean_partials(output_dir: Path) -> int:
    """Remove temporary files a killed run left behind; returns how many. Call under the lock."""
    removed = 0
    root = Path(output_dir)
    if not root.is_dir():
        return 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != STATE_DIR]
        for name in names:
            if name.startswith(".") and name.endswith(PART_SUFFIX):
                try:
                    os.unlink(os.path.join(folder, name))
                    removed += 1
                except OSError:
                    pass
    return removed


async def _copy_chunks(
    chunks: AsyncIterable[bytes], handle: BinaryIO, max_bytes: int, relative: str
) -> None:
    written = 0
    async for chunk in chunks:
        written += len(chunk)
        if written > max_bytes:
            raise RejectedError(f"the result for {relative} is larger than {max_bytes} bytes")
        handle.write(chunk)


def _verify_and_commit(
    output_dir: Path,
    tmp: Path,
    target: Path,
    relative: str,
    expected_format: str,
    expected_size: tuple[int, int] | None,
    existing: ExistingFile | None = None,
    expected_compression: int | None = None,
    notes: list[str] | None = None,
) -> FileRecord:
    """Runs in a worker thread: Pillow decoding and fsync must not stall the event loop."""
    try:
        data = tmp.read_bytes()
    except OSError as exc:
        raise _write_error(relative, exc, output_dir) from None
    (width, height), sent = _check_image(data, relative, expected_format)
    said = []
    wanted = PIL_FORMATS[expected_format]
    if sent != wanted:
        try:
            data = _convert(data, expected_format, expected_compression)
        except (OSError, ValueError, SyntaxError, EOFError) as exc:  # damaged past its header
            raise TransientError(
                f"the result for {relative} is a damaged {sent} image ({exc})"
            ) from None
        try:
            tmp.write_bytes(data)
        except OSError as exc:
            raise _write_error(relative, exc, output_dir) from None
        said.append(f"the API sent {sent} where {wanted} was asked for: converted to {wanted}")
    if expected_size is not None and (width, height) != expected_size:
        asked = f"{expected_size[0]}x{expected_size[1]}"
        said.append(f"the API sent {width}x{height} where {asked} was asked for: kept as sent")
    digest = hashlib.sha256(data).hexdigest()
    if existing is not None:
        existing.moved_to = keep_edited(output_dir, relative, existing.recorded, digest)
    try:
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except OSError as exc:
        raise _write_error(relative, exc, output_dir) from None
    if notes is not None:
        notes.extend(said)
    return FileRecord(path=relative, sha256=digest, width=width, height=height, bytes=len(data))


_RESULT_FORMATS = frozenset(PIL_FORMATS.values())  # what the API may send: PNG, JPEG, WEBP


def _check_image(data: bytes, relative: str, expected_format: str) -> tuple[tuple[int, int], str]:
    """The size and format (PNG, JPEG or WEBP) of a whole, readable result image."""
    from PIL import Image, UnidentifiedImageError

    wanted = PIL_FORMATS[expected_format]
    if not data:
        raise TransientError(f"the result for {relative} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                sent = image.format or "not an image"
                if sent not in _RESULT_FORMATS:
                    raise TransientError(
                        f"the result for {relative} is {sent}, not the {wanted} that was asked for"
                    )
                _check_complete(image, data, relative, sent)
                return image.size, sent
    except TransientError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        said = _text_excerpt(data)
        said = f" (the host sent text: {said!r})" if said else ""
        raise TransientError(f"the result for {relative} is not a readable image{said}") from None

    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Pillow reports truncated or corrupt data as OSError (or SyntaxError for bad headers).
        raise TransientError(
            f"the result for {relative} is a damaged {wanted} image ({exc})"
        ) from None


def inspect_image(data: bytes) -> tuple[tuple[int, int], str] | None:
    """(size, format) of a whole PNG, JPEG or WebP image, as a download is checked; None for
    anything else (truncated, damaged, text)."""
    try:
        return _check_image(data, "", "png")
    except TransientError:
        return None


def _convert(data: bytes, output_format: str, compression: int | None) -> bytes:
    """A whole image of another format, as output_format (JPEG has no transparency)."""
    from PIL import Image

    target = PIL_FORMATS[output_format]
    quality = 85 if compression is None else compression
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        keep_alpha = target != "JPEG" and "A" in image.getbands()
        converted = image.convert("RGBA" if keep_alpha else "RGB")
    out = io.BytesIO()
    if target == "PNG":
        converted.save(out, "PNG")
    elif target == "JPEG":
        converted.save(out, "JPEG", quality=max(1, min(100, quality)))
    else:
        converted.save(out, "WEBP", quality=max(0, min(100, quality)))
    return out.getvalue()


def _check_complete(image: Any, data: bytes, relative: str, wanted: str) -> None:
    """Is the file whole? A structural check, not a full decode.

    A full decode costs ~20 ms of CPU per 1024x1024 image, most of the runner's CPU per job
    (bench/README.md). Truncation, the real failure mode of a download, shows in the structure:
    PNG chunk CRCs up to IEND (Pillow's verify), JPEG's end-of-image marker, WebP's RIFF length.
    """
    if wanted == "PNG":
        image.verify()
        return
    if wanted == "JPEG":
        whole = data.rstrip(b"\x00").endswith(b"\xff\xd9")
    else:  # WEBP: "RIFF" <little-endian size of what follows> "WEBP" ...
        declared = int.from_bytes(data[4:8], "little") + 8
        whole = data[:4] == b"RIFF" and declared <= len(data) <= declared + 1
    if not whole:
        raise TransientError(f"the result for {relative} is a damaged {wanted} image (truncated)")


def _write_error(
    relative: str, exc: OSError, output_dir: Path | None, *, creating: bool = False
) -> StateError:
    """The OS's reason and the path; run-wide for a full or read-only disk, and for a folder
    that refuses new files (`creating`: making the folder or the temporary file), else this
    file's."""
    code = exc.errno
    if code in RUN_WIDE_ERRNOS:
        folder = output_dir if output_dir is not None else Path(relative)
        said = folder_error(folder, exc)
        return DiskUnusableError(said.message, said.hint)
    if creating and code in NO_PERMISSION_ERRNOS and output_dir is not None:
        said = folder_error(output_dir, exc, relative)
        return DiskUnusableError(
            said.message,
            f"{said.hint}; then run the same command again: the results already paid for are"
            " downloaded, not generated again",
        )
    blocker = _file_in_the_way(output_dir, relative) if output_dir is not None else None
    if blocker is not None:  # mkdir says "File exists" for this; the real problem is below
        return OutputWriteError(
            f"cannot write {relative}: {os.strerror(errno.ENOTDIR)} ({blocker} is a file)",
            f"rename or remove the file {blocker}, then run again: the result is paid for and"
            " will be downloaded, not generated again",
        )
    reason = exc.strerror or str(exc)
    if code == errno.ENAMETOOLONG:
        fix = "shorten the output names in the recipe"
    elif code in (errno.EACCES, errno.EPERM):
        fix = "make that folder writable"
    else:
        fix = "check that folder"
    return OutputWriteError(
        f"cannot write {relative}: {reason}",
        f"{fix}, then run again: the result is paid for and will be downloaded,"
        " not generated again",
    )


def _file_in_the_way(output_dir: Path, relative: str) -> str | None:
    """The first folder of `relative` that exists as something else than a folder."""
    root = Path(output_dir)
    parts = Path(relative).parts[:-1]
    for depth in range(1, len(parts) + 1):
        path = root.joinpath(*parts[:depth])
        try:
            if not path.is_dir() and path.exists():
                return "/".join(parts[:depth])
        except OSError:
            return None
    return None


def _text_excerpt(data: bytes) -> str | None:
    """The first words of a body that is text (a login page, an XML error), else None."""
    head = data[:400].lstrip()
    if not head.startswith((b"<", b"{", b"[")):
        return None
    text = re.sub(r"<[^>]*>", " ", head.decode("utf-8", "replace"))
    return " ".join(text.split())[:80] or None
