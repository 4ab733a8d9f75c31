"""Adopt a committed backdrop.lock into a fresh state, so a fresh clone does not pay again.

Teams commit the lock and the images, not `.backdrop/`. A job is taken as done when the lock
records it under the same job key (the same request) for exactly its planned outputs, and every
one of those files is on disk with the recorded sha256. A file that differs is not adopted: the
job is generated again, and the edited file is kept aside as NAME.edited.EXT when the download
replaces it. `plan --diff`, the money guard and the run all decide with this one function.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from runner.execute.records import FileRecord
from runner.plan.model import Plan


@dataclass(frozen=True)
class Adoption:
    # job key -> its files, in output order: jobs the lock shows done, files intact
    done: Mapping[str, tuple[FileRecord, ...]] = field(default_factory=dict)
    # (job key, file) of every lock file still as recorded: backdrop wrote it, so a new result
    # may replace it without keeping it as an edit (as the state's written_files would say)
    written: tuple[tuple[str, FileRecord], ...] = ()


def lock_adoption(output_dir: Path, plan: Plan) -> Adoption:
    """What output_dir/backdrop.lock shows done for this plan, and which of its files are intact.

    An unreadable lock adopts nothing (the run rewrites it); `plan --diff` and `verify` say why.
    """
    from runner.report.manifest import LOCK_NAME, ManifestError, read_lock

    if not (Path(output_dir) / LOCK_NAME).is_file():
        return Adoption()
    try:
        lock = read_lock(Path(output_dir))
    except ManifestError:
        return Adoption()
    planned = {job.key for job in plan.jobs}
    # Files of jobs the plan no longer has count only when the lock is this recipe's own.
    ours = lock.recipe == plan.recipe_name
    intact: dict[str, FileRecord] = {}
    written: list[tuple[str, FileRecord]] = []
    for entry in lock.entries:
        if entry.job not in planned and not ours:
            continue
        record = _record(Path(output_dir), entry.path, entry.sha256)
        if record is not None:
            intact[entry.path] = record
            written.append((entry.job, record))
    recorded: dict[str, set[str]] = {}
    for entry in lock.entries:
        recorded.setdefault(entry.job, set()).add(entry.path)
    done: dict[str, tuple[FileRecord, ...]] = {}
    for job in plan.jobs:
        paths = recorded.get(job.key)
        if paths is None or paths != set(job.outputs) or job.key in done:
            continue
        if all(path in intact for path in job.outputs):
            done[job.key] = tuple(intact[path] for path in job.outputs)
    return Adoption(done, tuple(written))


def lock_files(output_dir: Path) -> dict[str, str]:
    """path -> sha256 of every output backdrop.lock records (empty without a readable lock)."""
    from runner.report.manifest import LOCK_NAME, ManifestError, read_lock

    if not (Path(output_dir) / LOCK_NAME).is_file():
        return {}
    try:
        return {entry.path: entry.sha256 for entry in read_lock(Path(output_dir)).entries}
    except ManifestError:
        return {}


def _record(output_dir: Path, relative: str, sha256: str) -> FileRecord | None:
    """The file's record when it is on disk with this hash, else None."""
    from PIL import Image, UnidentifiedImageError

    from runner.report.manifest import sha256_of

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
    return FileRecord(relative, sha256, width, height, size)
