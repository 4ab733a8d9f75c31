"""Reading a file a recipe names, safely: refused before reading when it is not a regular file,
larger than a cap, or outside the recipe's project."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from runner.fileio import MAX_NAME_BYTES, NotAFile, open_regular

ALLOW_OUTSIDE_HINT = (
    "keep data and images inside the recipe's folder or its git repository, or allow a "
    "folder with --allow-outside FOLDER"
)


class FileProblem(Exception):
    """A file cannot be read safely; `message` reads well after "the file"."""

    def __init__(self, message: str, hint: str | None = None, *, kind: str = "other") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind  # "missing", "folder", "large", "outside" or "other"


def project_root(folder: Path) -> Path:
    """The nearest folder at or above `folder` holding `.git`, else `folder` (symlinks followed).

    Recipes arrive through pull requests and CI runs them: what they read must stay inside the
    project they came with.
    """
    real = Path(os.path.realpath(folder))
    for candidate in (real, *real.parents):
        if (candidate / ".git").exists():
            return candidate
    return real


def data_roots(folder: Path, allowed: Iterable[Path] = ()) -> tuple[Path, ...]:
    """The folders a recipe in `folder` may read from: its project, plus --allow-outside ones."""
    return (project_root(folder), *(Path(os.path.realpath(extra)) for extra in allowed))


def printable(text: str) -> str:
    """A path as it may be shown: control characters written as escapes, never sent raw."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def path_text_problem(text: str) -> str | None:
    """Why a path written in a recipe can never name a file (a control character), or None."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    char = found.group()
    if char == "\0":
        return "the path contains a NUL character (\\0)"
    return f"the path contains a control character (U+{ord(char):04X})"


def stored_path_problem(text: str, reserved: str = ".backdrop") -> str | None:
    """Why `text`, a path relative to an output folder as a lock or the state records it,
    cannot be one backdrop wrote there (those files come from many hands), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "the path holds an invalid character (a lone surrogate)"
    problem = path_text_problem(text)
    if problem is not None or not text:
        return problem or "the path is empty"
    parts = text.split("/")  # as PurePosixPath would, without its cost (a lock lists 100,000)
    if "\\" in text or any(part in ("", ".", "..") for part in parts):
        return f"the path {text} is not a plain path inside the folder"
    if parts[0] == reserved:
        return f"the path {text} is inside backdrop's own {reserved} folder"
    if any(len(part.encode("utf-8")) > MAX_NAME_BYTES for part in parts):
        return f"a name in the path is longer than {MAX_NAME_BYTES} bytes, which no disk takes"
    return None


def confine(path: Path, roots: Iterable[Path], *, linked: str | None = None) -> Path:
    """`path` with every symlink followed, when that lies inside one of `roots`.

    Raises FileProblem (kind "outside") otherwise, and for names no file can have.
    `linked`: the hint when only a link leads out (for files that belong in the project,
    such as the recipe itself or review.yaml); the message then says so, and that the file
    was not read: what lies outside is never quoted.
    """
    problem = path_text_problem(str(path))
    if problem is not None:
        raise FileProblem(f"cannot exist: {problem}", "remove it from the path")
    real = Path(os.path.realpath(path))
    shown = []
    for root in roots:
        if real == root or real.is_relative_to(root):
            return real
        shown.append(str(root))
    if linked is not None:
        raise FileProblem(
            f"is a link to a file outside the project ({', '.join(shown)}), so it is not read",
            linked,
            kind="outside",
        )
    raise FileProblem(
        f"is outside the recipe's project folder ({', '.join(shown)})",
        ALLOW_OUTSIDE_HINT,
        kind="outside",
    )


def read_project_file(
    path: Path,
    roots: Iterable[Path],
    max_bytes: int,
    *,
    linked: str,
    too_large_hint: str | None = None,
) -> bytes:
    """A file Backdrop reads from a repository (the recipe, review.yaml, backdrop.lock): refused
    unread when a link leads out of `roots`, or when it is no regular file or is too large."""
    return read_bounded(confine(path, roots, linked=linked), max_bytes, too_large_hint)


def read_bounded(path: Path, max_bytes: int, too_large_hint: str | None = None) -> bytes:
    """A regular file's bytes, refused before reading when it is larger than `max_bytes`.

    Checking the size first keeps a huge file (or /dev/zero, a pipe) from filling the memory
    or blocking forever (fileio.open_regular never opens a pipe). Raises FileProblem.
    """
    try:
        handle, info = open_regular(path, follow_links=True)
        with handle:
            if info.st_size > max_bytes:
                raise FileProblem(_too_large(info.st_size, max_bytes), too_large_hint, kind="large")
            data = handle.read(max_bytes + 1)
    except NotAFile as exc:
        if exc.kind == "a folder":
            raise FileProblem("is a folder, not a file", kind="folder") from None
        raise FileProblem(
            "is not a regular file (it is a device, a pipe or a socket)",
            "give the path of an ordinary file",
        ) from None
    except FileNotFoundError:
        hint = "check the path and the spelling"
        raise FileProblem("does not exist", hint, kind="missing") from None
    except PermissionError:
        raise FileProblem(
            "cannot be read (permission denied)", "check the file's permissions"
        ) from None
    except OSError as exc:
        raise FileProblem(f"cannot be read ({exc.strerror or exc})") from None
    except ValueError:  # a NUL character in the name: no file can have it
        raise FileProblem("cannot exist (its name contains a NUL character)") from None
    if len(data) > max_bytes:  # it grew after the check
        raise FileProblem(_too_large(len(data), max_bytes), too_large_hint, kind="large")
    return data


def _too_large(size: int, limit: int) -> str:
    return f"is too large ({_megabytes(size)}; the limit is {_megabytes(limit)})"


def _megabytes(size: int) -> str:
    mebibyte = 1024 * 1024
    return f"{size / mebibyte:,.1f} MB" if size >= mebibyte else f"{size:,} bytes"
