"""Adopt a committed backdrop.lock into a fresh state, so a fresh clone does not pay again.

Teams commit the lock and the images, not `.backdrop/`. A job is taken as done when the lock
records it under the same job key (the same request) for exactly its planned outputs, and every
one of those files is on disk with the recorded sha256. A file that differs is not adopted: the
job is generated again, and the edited file is kept aside as NAME.edited.EXT when the download
replaces it. `plan --diff`, the money guard and the run all decide with this one function.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from runner.execute.records import FileRecord
from runner.plan.model import Job


def lock_adoptable(output_dir: Path, jobs: Iterable[Job]) -> dict[str, tuple[FileRecord, ...]]:
    """The jobs (by key) that output_dir/backdrop.lock shows done, with their files' records.

    An unreadable lock adopts nothing (the run rewrites it); `plan --diff` and `verify` say why.
    """
    from runner.report.manifest import LOCK_NAME, ManifestError, read_lock

    if not (Path(output_dir) / LOCK_NAME).is_file():
        return {}
    try:
        lock = read_lock(Path(output_dir))
    except ManifestError:
        return {}
    recorded: dict[str, dict[str, str]] = {}
    for entry in lock.entries:
        recorded.setdefault(entry.job, {})[entry.path] = entry.sha256
    adopted: dict[str, tuple[FileRecord, ...]] = {}
    for job in jobs:
        files = recorded.get(job.key)
        if files is None or set(files) != set(job.outputs) or job.key in adopted:
            continue
        records = _records(Path(output_dir), files)
        if records is not None:
            adopted[job.key] = tuple(records[path] for path in job.outputs)
    return adopted


def _records(output_dir: Path, files: Mapping[str, str]) -> dict[str, FileRecord] | None:
    """Each file's record when every one is on disk with its recorded hash, else None."""
    from PIL import Image, UnidentifiedImageError

    from runner.report.manifest import sha256_of

    records: dict[str, FileRecord] = {}
    for relative, sha256 in files.items():
        path = output_dir / relative
        if sha256_of(path) != sha256:
            return None
        try:
            size = path.stat().st_size
        except OSError:
            return None
        # The hash decides (as in `plan --diff`); the size in pixels is only for the reports.
        width = height = 0
        with (
            contextlib.suppress(OSError, UnidentifiedImageError, ValueError),
            Image.open(path) as image,  # reads the header only
        ):
            width, height = image.size
        records[relative] = FileRecord(relative, sha256, width, height, size)
    return records
