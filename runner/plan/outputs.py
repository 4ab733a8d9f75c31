"""Output paths: relative to the output folder, never escaping it, never clashing."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from runner.fileio import MAX_NAME_BYTES, TEMP_NAME_EXTRA, is_within
from runner.printable import clipped_repr
from runner.report_files import REPORT_FILES

RESERVED_PREFIX = ".backdrop"  # the state's folder, at the root of the output folder
# "C:/x" is absolute on Windows; "a:b" is merely a name with ':' (refused as unportable).
_DRIVE = re.compile(r"^[A-Za-z]:/")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Invisible characters that reorder or hide what a name shows ("mug\u202egnp.exe" reads as
# "mugexe.png"): bidi controls, zero-width space, line separators, BOM. ZWJ and ZWNJ stay:
# emoji and Persian or Indic words need them.
_INVISIBLE = re.compile("[\u061c\u200b\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff]")
MAX_PATH_BYTES = 1000  # a whole output path: macOS allows 1,024 bytes with the folder's own
# The run writes each file first under a longer temporary name (runner/fileio.py).
MAX_FILE_NAME_BYTES = MAX_NAME_BYTES - TEMP_NAME_EXTRA
# Names Windows keeps for devices, with or without an extension ("con.png" too); Microsoft's
# "Naming Files" page lists COM0/LPT0 and the superscript digits too. "con-1" is a fine name.
_WINDOWS_DEVICES = frozenset(
    {
        "CON",
        "PRN",
        "AUX",
        "NUL",
        *(f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"),
    }
)
_WINDOWS_FORBIDDEN = re.compile(r'[*?:<>|"]')
_PORTABLE_HINT = "teams share output folders across Windows, macOS and Linux: {}"
_HINT = "write a path inside the output folder, such as {{ market.code }}/{{ product.sku }}"


class OutputProblem(Exception):
    """A broken output rule; `rule` groups the same mistake across jobs into one message."""

    def __init__(self, message: str, rule: str, hint: str | None = _HINT) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule
        self.hint = hint


def output_paths(rendered: str, extension: str, n: int) -> tuple[str, ...]:
    """The POSIX paths (one per image) for a rendered `output:`; raises OutputProblem."""
    text = rendered.strip()
    if not text:
        raise OutputProblem("the output path is empty", "empty")
    if "\\" in text:
        raise OutputProblem(
            f"{_shown(text)} contains a backslash", "backslash", "use / between folders"
        )
    if _DRIVE.match(text) or text.startswith("/"):
        raise OutputProblem(f"{_shown(text)} is absolute", "absolute")
    # Printable ASCII holds neither a control nor an invisible character; the searches below
    # take ~10 ns a character (a path thousands of folders deep, in each of 10,000 jobs).
    plain = text.isascii() and text.isprintable()
    if not plain and _CONTROL.search(text):
        raise OutputProblem(f"{_shown(text)} contains control characters", "control")
    invisible = None if plain else _INVISIBLE.search(text)
    if invisible:
        char = invisible.group()
        name = unicodedata.name(char, "a format character")
        raise OutputProblem(
            f"{_shown(text)} contains the invisible character U+{ord(char):04X} ({name}), "
            "which can make a file name show as something else",
            "invisible",
            "remove it from the recipe or the data (| slug removes it too)",
        )
    if text.endswith("/"):
        raise OutputProblem(f"{_shown(text)} names a folder, not a file", "folder")
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_PATH_BYTES:
        raise OutputProblem(
            f"the output path is {size:,} bytes long; at most {MAX_PATH_BYTES:,} are allowed "
            "(macOS refuses longer paths)",
            "path long",
            "make the output path shorter: fewer folders, shorter names",
        )
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise OutputProblem(f"{_shown(text)} goes up a folder with '..'", "up")
    if not parts:
        raise OutputProblem(f"{_shown(text)} is empty", "empty")
    if parts[0].lower().startswith(RESERVED_PREFIX):
        raise OutputProblem(f"{parts[0]} is reserved for backdrop's own files", "reserved")
    stem = "/".join(parts)
    suffix = f".{extension}"
    if stem.lower().endswith(suffix):
        stem = stem[: -len(suffix)]
    if n == 1:
        paths: tuple[str, ...] = (stem + suffix,)
    else:
        paths = tuple(f"{stem}-{i}{suffix}" for i in range(1, n + 1))
    for path in paths:
        if "/" not in path and path.lower() in REPORT_FILES:
            raise OutputProblem(f"{path} is reserved for backdrop's report", "reserved")
        _check_names(path)
    return paths


def _shown(text: str) -> str:
    return f"the output path {clipped_repr(text)}"


# Folder paths whose names passed both checks below: the jobs of a plan share a few folders,
# and checking each name was a tenth of building a job. Bounded (a plan may have a folder per job).
_FINE_FOLDERS: set[str] = set()
_FINE_FOLDERS_MAX = 4096


def _check_names(path: str) -> None:
    """_check_name_lengths then _check_portable, of the file name alone when its folders are
    known to pass (the same problem is found: each name is checked on its own, in order)."""
    folder, _, name = path.rpartition("/")
    known = folder in _FINE_FOLDERS
    _check_name_lengths(name if known else path)
    _check_portable(name if known else path)
    if folder and not known:
        if len(_FINE_FOLDERS) >= _FINE_FOLDERS_MAX:
            _FINE_FOLDERS.clear()
        _FINE_FOLDERS.add(folder)


def same_file_key(path: str) -> str:
    """Paths with equal keys are one file on macOS or Windows (case and Unicode form ignored)."""
    return unicodedata.normalize("NFC", path).casefold()


def _check_portable(path: str) -> None:
    """Refuse names that Windows cannot create, so one folder works on every team member's OS."""
    for part in path.split("/"):
        forbidden = _WINDOWS_FORBIDDEN.search(part)
        if forbidden:
            char = forbidden.group()
            drive = " (there it names a drive)" if re.match(r"^[A-Za-z]:", part) else ""
            raise OutputProblem(
                f"the name {part!r} contains {char!r}, which Windows does not allow in names"
                + drive,
                "windows character",
                _PORTABLE_HINT.format('leave out * ? : < > | and " (| slug removes them)'),
            )
        if part != part.rstrip(". "):
            raise OutputProblem(
                f"the name {part!r} ends with a dot or a space, which Windows removes",
                "windows trailing",
                _PORTABLE_HINT.format("end each name with a letter or a digit"),
            )
        device = part.split(".", 1)[0].rstrip(" ").upper()
        if device in _WINDOWS_DEVICES:
            raise OutputProblem(
                f"the name {part!r} is reserved by Windows ({device}, even with an extension)",
                "windows device",
                _PORTABLE_HINT.format(f"add a word to it, such as {device.lower()}-1"),
            )


def _check_name_lengths(path: str) -> None:
    """Refuse now a name the file system would refuse after the image has been paid for."""
    parts = path.split("/")
    for index, part in enumerate(parts):
        is_file = index == len(parts) - 1
        limit = MAX_FILE_NAME_BYTES if is_file else MAX_NAME_BYTES
        size = len(part.encode("utf-8"))
        if size > limit:
            kind = "file" if is_file else "folder"
            shown = part if len(part) <= 40 else part[:37] + "..."
            raise OutputProblem(
                f"the {kind} name {shown!r} is {size} bytes long; at most {limit} are allowed",
                "long",
                "make the output path's names shorter (letters outside A-Z take 2 to 4 bytes)",
            )


class EscapeCheck:
    """Catches output paths that leave the folder through symlinks already on disk."""

    def __init__(self, output_dir: Path) -> None:
        self._root = output_dir
        self._real_root = os.path.realpath(output_dir)
        self._active = output_dir.exists()
        self._folders: dict[str, bool] = {}

    def escape(self, relative: str) -> str | None:
        """Why writing `relative` would leave the output folder, or None when it would not."""
        if not self._active:
            return None
        folder, _, _ = relative.rpartition("/")
        inside = self._folders.get(folder)
        if inside is None:
            real = os.path.realpath(self._root / folder) if folder else self._real_root
            inside = is_within(real, self._real_root)
            self._folders[folder] = inside
        if not inside:
            return f"the folder {folder} in the output folder is a link to a place outside it"
        if os.path.islink(self._root / relative):
            return f"{relative} in the output folder is a symbolic link"
        return None


def sources_inside(output_dir: Path, sources: Iterable[Path]) -> dict[str, Path]:
    """The sources (recipe, data, images) inside the output folder, by casefolded POSIX path."""
    root = os.path.realpath(output_dir)
    inside: dict[str, Path] = {}
    for source in dict.fromkeys(sources):  # one image per job: resolve each file once
        real = os.path.realpath(source)
        if real != root and is_within(real, root):
            relative = Path(os.path.relpath(real, root)).as_posix()
            inside.setdefault(relative.casefold(), source)
    return inside
