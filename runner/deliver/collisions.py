"""Delivered names that would be one file, and what to add to --name to tell them apart.

Two names are one file when they are equal, or equal on Windows or macOS, which ignore case
and how accents are encoded ("café" composed, NFC, or as "e" plus a combining accent, NFD:
macOS writes the second, Windows and Linux keep what they are given): `same_file_key`, the
rule `run` applies to output paths. A name is also unusable where another one needs a folder
of that name.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from runner.diagnostics import UsageError
from runner.plan.outputs import same_file_key
from runner.records.run_records import JobRecord
from runner.report.axis_values import value_label


class NameClashes:
    """The delivered names so far, per zip ("" for the export folder itself)."""

    def __init__(self, template: str | None, used: Collection[str], reserved: str) -> None:
        self.template = template
        self.used = used  # the names --name reads
        self.reserved = reserved  # export's own file at the top of the folder (manifest.csv)
        self.files: dict[tuple[str, str], tuple[str, JobRecord]] = {}
        self.folders: dict[tuple[str, str], tuple[str, JobRecord]] = {}

    def add(self, zip_name: str, path: str, job: JobRecord) -> None:
        """Note `path` for `job`; UsageError when it clashes with a name noted before."""
        key = (zip_name, same_file_key(path))
        if not zip_name and key[1] == same_file_key(self.reserved):
            raise UsageError(
                f"a delivered file would be named {path}, the name of export's own list of "
                f"the delivered files (job {job.label})",
                hint="choose a --name that gives another name",
            )
        first = self.files.get(key) or self.folders.get(key)
        if first is not None:
            raise _clash(path, first, job, self.template, self.used)
        parts = path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            folder_key = (zip_name, same_file_key(folder))
            blocking = self.files.get(folder_key)
            reserved = not zip_name and folder_key[1] == same_file_key(self.reserved)
            if blocking is not None or reserved:
                blocker = blocking[0] if blocking else self.reserved
                raise UsageError(
                    f"the delivered file {path} (job {job.label}) would need a folder named "
                    f"{folder}, where the file {blocker} is delivered",
                    hint=_hint(blocking[1] if blocking else None, job, self.template, self.used),
                )
            self.folders.setdefault(folder_key, (folder, job))
        self.files[key] = (path, job)


def _clash(
    path: str,
    first: tuple[str, JobRecord],
    job: JobRecord,
    template: str | None,
    used: Collection[str],
) -> UsageError:
    first_path, first_job = first
    jobs = f"jobs {first_job.key[:12]} and {job.key[:12]}: {first_job.label} and {job.label}"
    if first_path == path:
        message = f"two delivered files would both be named {path} ({jobs})"
    else:
        how = (
            "case"
            if first_path.casefold() == path.casefold()
            else "how their accents are encoded (Unicode NFC and NFD)"
            if _same_text(first_path, path)
            else "case and how their accents are encoded"
        )
        message = (
            f"two delivered files would be named {first_path!r} and {path!r}, which differ "
            f"only in {how}: one file on macOS and Windows ({jobs})"
        )
    return UsageError(message, hint=_hint(first_job, job, template, used))


def _same_text(first: str, second: str) -> bool:
    import unicodedata

    return unicodedata.normalize("NFC", first) == unicodedata.normalize("NFC", second)


def _hint(
    first: JobRecord | None, job: JobRecord, template: str | None, used: Collection[str]
) -> str:
    """Name the matrix value that tells the two jobs apart, and how to put it in --name."""
    found = None if first is None else _first_difference(first.vars, job.vars)
    if found is None:
        return "put more matrix values in --name, so that each delivered file has its own name"
    expression, one, other = found
    axis = expression.split(".")[0]
    values = f"{one!r} and {other!r}"
    if axis in used:
        return (
            f"--name uses {axis}, whose values here ({values}) give one name; name the files "
            "by a value that differs by more than case or accents"
        )
    example = f"{template}_{{{{ {expression} }}}}" if template else f"{{{{ {expression} }}}}"
    return f"the two jobs differ in {axis} ({values}): add it to --name, e.g. --name '{example}'"


def _first_difference(
    first: Mapping[str, Any], second: Mapping[str, Any]
) -> tuple[str, str, str] | None:
    """The first matrix value (axis, or axis.field of a mapping) that differs, and its values."""
    for axis, value in first.items():
        other = second.get(axis)
        if value == other:
            continue
        if isinstance(value, Mapping) and isinstance(other, Mapping):
            for field, inner in value.items():
                if inner != other.get(field) and not isinstance(inner, Mapping | list):
                    return f"{axis}.{field}", value_label(inner), value_label(other.get(field))
        return axis, value_label(value), value_label(other)
    return None
