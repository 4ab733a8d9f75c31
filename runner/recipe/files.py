"""Reading a file a recipe names, safely: refused before reading when it is not a regular file,
larger than a cap, or outside the recipe's project."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

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


def path_text_problem(text: str) -> str | None:
    """Why a path written in a recipe can never name a file (a control character), or None."""
    for char in text:
        if char == "\0":
            return "the path contains a NUL character (\\0)"
        if ord(char) < 32 or ord(char) == 127:
            return f"the path contains a control character (U+{ord(char):04X})"
    return None


def confine(path: Path, roots: Iterable[Path]) -> Path:
    """`path` with every symlink followed, when that lies inside one of `roots`.

    Raises FileProblem (kind "outside") otherwise, and for names no file can have.
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
    raise FileProblem(
        f"is outside the recipe's project folder ({', '.join(shown)})",
        ALLOW_OUTSIDE_HINT,
        kind="outside",
    )


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
