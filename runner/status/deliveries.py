"""What export delivered: each folder OUTDIR/.backdrop/exports.json records, and its manifest.csv.

exports.json says which files export wrote into each delivery folder, with their SHA-256; the
manifest.csv among them says, for each delivered file, the job, take and variant it came from
and that image's SHA-256. A manifest is read only when it still has the bytes export wrote: a
manifest edited since (or gone) tells nothing about the folder. No image is hashed: a job
changed since its export when the image export would deliver now is not the one it delivered
(approved again on a new take, another pick, an approval withdrawn), or when a delivered file is
gone from the folder.

Export does not record its options. The ones that shape the delivered names are told from the
manifest (--zip and --group-by, --format, --csv-separator), so that the export to run again is
the one that was run; a --name cannot be told again, and the step says so.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runner.deliver.delivered import RECORD_PATH, DeliveredRecord
from runner.deliver.export_outputs import DEFAULT_GROUP, MANIFEST_NAME, _zip_name
from runner.deliver.resize import EXTENSIONS, format_of
from runner.report.results_csv import neutralise
from runner.status.standing import Delivery, JobStanding

MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # 10,000 jobs x 10 channels with long prompts fit
Row = Mapping[str, str]


def read_deliveries(output_dir: Path, jobs: Sequence[JobStanding]) -> tuple[Delivery, ...]:
    """Every delivery folder of output_dir's exports, sorted by path."""
    try:  # a record that is not a plain file of a sane size (a link to a device) is not read
        info = os.stat(output_dir / RECORD_PATH)
    except (OSError, ValueError):
        return ()
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MANIFEST_BYTES:
        return ()
    folders = DeliveredRecord(output_dir, output_dir).folders  # read-only until save()
    by_output = {output: job for job in jobs for output in job.outputs}
    deliveries = []
    for folder, files in sorted(folders.items()):
        if not isinstance(folder, str) or not isinstance(files, dict):
            continue
        recorded = files.get(MANIFEST_NAME)
        deliveries.append(_delivery(Path(folder), recorded, by_output))
    return tuple(deliveries)


def _delivery(to: Path, recorded: object, by_output: Mapping[str, JobStanding]) -> Delivery:
    data = _manifest_bytes(to / MANIFEST_NAME)
    if data is None:
        return Delivery(to, "missing", (), (), 0, (), False)
    if hashlib.sha256(data).hexdigest() != recorded:
        return Delivery(to, "changed", (), (), 0, (), False)
    text = data.decode("utf-8-sig", errors="replace")
    separator = ";" if text.startswith("file;") else ","
    try:
        rows = [_plain(row) for row in csv.DictReader(io.StringIO(text), delimiter=separator)]
    except csv.Error:  # not what export writes: recorded by hand in exports.json as well
        return Delivery(to, "changed", (), (), 0, (), False)
    delivered: dict[str, JobStanding] = {}
    changed: set[str] = set()
    there: dict[str, bool] = {}  # each delivered file, or zip, by its path in the folder
    for row in rows:
        item = row.get("zip") or row.get("file") or ""
        if item not in there:
            there[item] = bool(item) and os.path.isfile(os.path.join(to, item))
        job = by_output.get(row.get("source_output", ""))
        if job is None:
            continue  # a job the recipe no longer has: nothing to deliver for it now
        delivered[job.review_key] = job
        if job.delivers != row.get("source_sha256") or not there[item]:
            changed.add(job.review_key)
    options, known = _options(rows, by_output, separator)
    keys = tuple(delivered)
    missing = sum(not present for present in there.values())
    return Delivery(
        to, "ours", keys, tuple(k for k in keys if k in changed), missing, options, known
    )


def _manifest_bytes(path: Path) -> bytes | None:
    """The manifest's bytes; None when it is not there as a file. A delivery folder may come
    from a pull request: a link to a device or a pipe is never read, nor more than the cap."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError):
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_MANIFEST_BYTES + 1)
    return data if len(data) <= MAX_MANIFEST_BYTES else b""


_READ = ("file", "zip", "channel", "source_output", "source_sha256")


def _plain(row: Mapping[str | Any, Any]) -> dict[str, str]:
    """The cells read of a manifest row, as export wrote them before neutralising them for
    Excel."""
    plain = {}
    for name in _READ:
        cell = row.get(name)
        if isinstance(cell, str):
            plain[name] = cell[1:] if cell[:1] == "'" and neutralise(cell[1:]) == cell else cell
    return plain


def _options(
    rows: Sequence[Row], by_output: Mapping[str, JobStanding], separator: str
) -> tuple[tuple[str, ...], bool]:
    """The export options that give these rows' names again, and whether they all could be told
    (a --name template cannot be)."""
    matched = [(row, job) for row in rows if (job := by_output.get(row.get("source_output", "")))]
    options: list[str] = []
    known = True
    if any(row.get("zip") for row in rows):
        options.append("--zip")
        group = _group(matched)
        if group is None:
            known = False
        elif group != DEFAULT_GROUP:
            options += ["--group-by", group]
    formats = {format_of(row.get("file", "")) for row in rows}
    as_generated = all(
        format_of(row.get("file", "")) == format_of(row.get("source_output", "")) for row in rows
    )
    if not as_generated:
        if len(formats) == 1:
            options += ["--format", formats.pop()]
        else:
            known = False
    if separator != ",":
        options += ["--csv-separator", separator]
    return tuple(options), known and all(_default_name(row, job) for row, job in matched)


def _group(matched: Sequence[tuple[Row, JobStanding]]) -> str | None:
    """The --group-by the zips were made by: the default first, then each axis and field."""
    for group in _candidates(job.vars for _, job in matched):
        if all(_zip_name(job.vars, group)[0] == row.get("zip") for row, job in matched):
            return group
    return None


def _candidates(all_vars: Iterable[Mapping[str, Any]]) -> list[str]:
    found = [DEFAULT_GROUP]
    for vars in all_vars:
        for name, value in vars.items():
            found.append(name)
            if isinstance(value, Mapping):
                found.extend(f"{name}.{field}" for field in value)
        break  # every job has the same axes; the first says them
    return list(dict.fromkeys(found))


def _default_name(row: Row, job: JobStanding) -> bool:
    """Is the delivered name export's default, the job's output path (in a channel folder)?"""
    file = row.get("file", "")
    channel = row.get("channel", "")
    stem = job.review_key if channel in ("", "original") else f"{channel}/{job.review_key}"
    extension = EXTENSIONS[format_of(file)]
    return file == f"{stem}.{extension}"
