"""Adopt committed backdrop.lock files into a fresh state, so a fresh clone does not pay again.

Teams commit the locks and the images, not `.backdrop/`. A job is taken as done when a lock
records it under the same job key (the same request) for exactly its planned outputs, and every
one of those files is on disk with the recorded sha256. A file that differs is not adopted: the
job is generated again, and the edited file is kept aside as NAME.edited.EXT when the download
replaces it. `plan --diff`, the money guard and the run all decide with this one function.

The locks read are the output folder's own and its shard folders' (`run --shard K/N -o
OUT/shard-K`, as examples/github/run.yml does); a shard folder also reads its parent's and its
siblings', since N may change between runs. A job done in another folder is copied into this one
(a copy costs nothing, a generation costs money), unless a file Backdrop did not write is in the
way: then it is generated, as it would be with the folder's own lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runner.api.limits import PIL_FORMATS
from runner.execute.result_files import inspect_image
from runner.fileio import PART_SUFFIX, folder_error, temp_beside
from runner.plan.plan_model import Plan
from runner.recipe.files import FileProblem, data_roots, read_bounded
from runner.records.lock_reader import read_lock
from runner.records.lockfile import LOCK_NAME, FileHashes, LockFile, LockFileProblem, sha256_of
from runner.records.run_records import MAX_OUTPUT_BYTES, Adoption, FileRecord
from runner.records.state_folder import SHARD_PREFIX

if TYPE_CHECKING:
    from runner.records.state import StateStore


def shards_base(output_dir: Path) -> Path:
    """The folder whose shard folders output_dir's locks are read with: its parent for a
    shard folder (OUT/shard-K), else itself."""
    return output_dir.parent if output_dir.name.startswith(SHARD_PREFIX) else output_dir


def lock_folders(output_dir: Path) -> tuple[Path, ...]:
    """Every folder whose backdrop.lock speaks for output_dir: itself first, then its shards'.

    A folder named shard-* is one shard of its parent: the parent and the other shards count too.
    """
    output_dir = Path(output_dir)
    base = shards_base(output_dir)
    shards = sorted(lock.parent for lock in base.glob(f"{SHARD_PREFIX}*/{LOCK_NAME}"))
    seen: set[str] = set()
    folders: list[Path] = []
    for folder in (output_dir, base, *shards):
        where = os.path.abspath(folder)
        # lexists: a lock that is no regular file is refused when read, not taken for none
        if where not in seen and os.path.lexists(folder / LOCK_NAME):
            seen.add(where)
            folders.append(folder)
    return tuple(folders)


def lock_adoption(
    output_dir: Path,
    plan: Plan,
    selected: Collection[str] | None = None,
    *,
    strict: bool = False,
    files: LockFiles | None = None,
) -> Adoption:
    """What the locks of lock_folders(output_dir) show done for this plan, files intact.

    selected: the keys of the jobs the run takes (None: all). Only those are taken from other
    folders' locks, so that `run --shard K/N` never copies the other shards' images.
    strict: the folder's own lock must be readable (a fresh state has nothing else to go by):
    a damaged one raises its LockFileError, as `plan --diff` does, rather than let the run
    pay again for everything it records. Other folders' unreadable locks adopt nothing.
    files: the LockFiles of this use, when the caller reads the same files again.
    """
    output_dir = Path(output_dir)
    files = files or LockFiles(output_dir)
    locks = _readable_locks(output_dir, files, strict=strict)
    if not locks:
        return Adoption()
    written: list[tuple[str, FileRecord]] = []
    found: list[tuple[Path, dict[str, tuple[FileRecord, ...]]]] = []
    for folder, lock in locks:
        own = os.path.abspath(folder) == os.path.abspath(output_dir)
        intact, recorded = _lock_files(folder, lock, plan, files, every_job=own)
        if own:  # backdrop wrote these bytes, whole images or not: a run may replace them
            written = recorded
        found.append((folder, _done_jobs(lock, plan, dict((r.path, r) for _, r in intact))))
    ours = {record.path: record.sha256 for _, record in written}  # backdrop's files in this folder
    done: dict[str, tuple[FileRecord, ...]] = {}
    copies: list[tuple[Path, str, FileRecord]] = []
    elsewhere: list[tuple[str, FileRecord]] = []  # placed by a copy, or already identical
    for job in plan.jobs:
        for folder, jobs in found:
            records = jobs.get(job.key)
            if records is None or job.key in done:
                continue
            if os.path.abspath(folder) == os.path.abspath(output_dir):
                done[job.key] = records
                continue
            if selected is not None and job.key not in selected:
                continue
            targets = [(record, output_dir / record.path) for record in records]
            if all(_free(target, record, ours, files) for record, target in targets):
                done[job.key] = records
                elsewhere.extend((job.key, record) for record in records)
                copies.extend(
                    (folder / record.path, job.key, record)
                    for record, target in targets
                    if files.sha256(target) != record.sha256
                )
    placed = {record.path for _, record in elsewhere}
    written = [item for item in written if item[1].path not in placed] + elsewhere
    return Adoption(done, tuple(written), tuple(copies))


def state_adoption(
    output_dir: Path,
    plan: Plan,
    done: Mapping[str, Mapping[str, str]],
    written: Mapping[str, str],
    selected: Collection[str] | None = None,
) -> Adoption | None:
    """What the locks add to a folder's existing state (a lock pulled from git, another
    machine's run): the plan's jobs the state does not have done with these very files.

    done: job key -> {path: sha256} of the jobs the state has done; written: path -> sha256 of
    what the state says Backdrop wrote. A job the state has done with its files intact is
    never taken from a lock (its files are the lock's, or the lock's are not on disk).
    None when every lock agrees with the state: the usual case, with nothing to hash.
    """
    if not _news(Path(output_dir), plan, done, written, selected):
        return None
    adoption = lock_adoption(output_dir, plan, selected)
    keep = {
        key
        for key, records in adoption.done.items()
        if done.get(key) != {record.path: record.sha256 for record in records}
    }
    # A copy not made leaves its target as it is: not a file to record as Backdrop's.
    dropped = {(key, record.path) for _, key, record in adoption.copies if key not in keep}
    return Adoption(
        {key: records for key, records in adoption.done.items() if key in keep},
        tuple(item for item in adoption.written if (item[0], item[1].path) not in dropped),
        tuple(copy for copy in adoption.copies if copy[1] in keep),
    )


def adoption_for_state(
    state: StateStore, plan: Plan, selected: Collection[str] | None
) -> Adoption | None:
    """What the folder's locks show done that `state` does not (state_adoption)."""
    done = {
        key: {record.path: record.sha256 for record in known.files}
        for key, known in state.job_states().items()
        if known.status == "done"
    }
    written = {path: sha for path, (sha, _, _) in state.written_files().items()}
    return state_adoption(state.output_dir, plan, done, written, selected)


def _news(
    output_dir: Path,
    plan: Plan,
    done: Mapping[str, Mapping[str, str]],
    written: Mapping[str, str],
    selected: Collection[str] | None,
) -> bool:
    """Whether a lock records a file the state does not know as written, or a job it may
    adopt (as lock_adoption would) that the state does not have done with that file."""
    planned = {job.key for job in plan.jobs}
    for folder, lock in _readable_locks(output_dir):
        own = os.path.abspath(folder) == os.path.abspath(output_dir)
        wanted = planned if own or selected is None else planned.intersection(selected)
        for entry in lock.entries:
            if own and written.get(entry.path) != entry.sha256:
                return True
            if entry.job in wanted and done.get(entry.job, {}).get(entry.path) != entry.sha256:
                return True
    return False


def place_adopted(output_dir: Path, adoption: Adoption) -> Adoption:
    """Copy the files adopted from other folders' locks into output_dir (the run does, locked).

    Returns the adoption as placed: a source that changed since it was hashed is not adopted
    after all (its job is generated), and a file already copied stays so (the next run hashes).
    """
    lost: set[str] = set()
    for source, key, record in adoption.copies:
        target = Path(output_dir) / record.path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = temp_beside(target, PART_SUFFIX)  # clean_partials removes leftovers
            try:
                with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                    shutil.copyfileobj(src, out)
                if sha256_of(temp) != record.sha256:
                    lost.add(key)
                    continue
                os.replace(temp, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
        except OSError as exc:
            raise folder_error(Path(output_dir), exc, record.path) from None
    if not lost:
        return adoption
    done = {key: records for key, records in adoption.done.items() if key not in lost}
    written = tuple(item for item in adoption.written if item[0] not in lost)
    copies = tuple(copy for copy in adoption.copies if copy[1] not in lost)
    return Adoption(done, written, copies)


def lock_files(output_dir: Path) -> dict[str, str]:
    """path -> sha256 of every output backdrop.lock records (empty without a readable lock)."""
    if not (Path(output_dir) / LOCK_NAME).is_file():
        return {}
    try:
        return {entry.path: entry.sha256 for entry in read_lock(Path(output_dir)).entries}
    except LockFileProblem:
        return {}


def _readable_locks(
    output_dir: Path, files: LockFiles | None = None, *, strict: bool = False
) -> list[tuple[Path, LockFile]]:
    files = files or LockFiles(output_dir)
    locks = []
    for folder in lock_folders(output_dir):
        try:
            locks.append((folder, files.lock(folder)))
        except LockFileProblem:
            if strict and os.path.abspath(folder) == os.path.abspath(output_dir):
                raise
    return locks


class LockFiles:
    """The files locks name, for one use: each read once however many entries or links lead to
    it, and only inside the output folder's project (files.data_roots, links followed; for a
    shard folder, the project of the folder holding the shards)."""

    def __init__(self, output_dir: Path) -> None:
        self.hashes = FileHashes(data_roots(shards_base(Path(output_dir))))
        self._seen: dict[tuple[int, int, int, int], _Facts | None] = {}
        self._locks: dict[str, LockFile | LockFileProblem] = {}

    def lock(self, folder: Path) -> LockFile:
        """folder's lock, read (and checked) once for this use; LockFileProblem as read_lock."""
        where = os.path.abspath(folder)
        if where not in self._locks:
            try:
                self._locks[where] = read_lock(Path(folder))
            except LockFileProblem as error:
                self._locks[where] = error
        known = self._locks[where]
        if isinstance(known, LockFileProblem):
            raise known
        return known

    def sha256(self, path: Path | str) -> str | None:
        return self.hashes.of(path)

    def record(
        self, folder: Path, relative: str, sha256: str, output_format: str | None
    ) -> tuple[FileRecord | None, bool]:
        """(the file's record, when it is on disk with this hash; whether it is also a whole
        image, of `output_format` when given). A file that is not is to be downloaded again,
        or generated: a lock records only what backdrop wrote, and backdrop checked it then."""
        path = os.path.join(folder, relative)  # a str: 100,000 entries, no Path objects
        identity = self.hashes.identity(path)
        if identity is None:
            return None, False
        if identity not in self._seen:
            facts = self._seen[identity] = _inspect(Path(path))
            if facts is not None:
                self.hashes.remember(identity, facts.sha256)
        facts = self._seen[identity]
        if facts is None or facts.sha256 != sha256:
            return None, False
        width, height, kind = facts.image or (0, 0, None)
        whole = kind is not None and (
            output_format is None or kind == PIL_FORMATS.get(output_format)
        )
        return FileRecord(relative, sha256, width, height, facts.bytes), whole


@dataclass(frozen=True)
class _Facts:
    sha256: str
    bytes: int
    image: tuple[int, int, str] | None  # width, height, format of a whole image


def _inspect(path: Path) -> _Facts | None:
    """The file's hash and, checked once, whether it is a whole image (as a download is)."""
    try:
        data = read_bounded(path, MAX_OUTPUT_BYTES)
    except FileProblem:
        return None
    image = inspect_image(data)
    facts = None if image is None else (image[0][0], image[0][1], image[1])
    return _Facts(hashlib.sha256(data).hexdigest(), len(data), facts)


def _lock_files(
    folder: Path, lock: LockFile, plan: Plan, files: LockFiles, *, every_job: bool
) -> tuple[list[tuple[str, FileRecord]], list[tuple[str, FileRecord]]]:
    """(job key, record) of the lock's files on disk as recorded, for the plan's jobs: those
    that are whole images (intact), and all of them (backdrop's own).

    every_job: also the files of jobs the plan no longer has, when the lock is this recipe's own.
    """
    formats = {job.key: job.prompt_object.output_format for job in plan.jobs}
    others = every_job and lock.recipe == plan.recipe_name
    intact, recorded = [], []
    for entry in lock.entries:
        if entry.job in formats or others:
            record, whole = files.record(folder, entry.path, entry.sha256, formats.get(entry.job))
            if record is not None:
                recorded.append((entry.job, record))
                if whole:
                    intact.append((entry.job, record))
    return intact, recorded


def _done_jobs(
    lock: LockFile, plan: Plan, intact: Mapping[str, FileRecord]
) -> dict[str, tuple[FileRecord, ...]]:
    """The plan's jobs this lock records for exactly their outputs, every file intact."""
    recorded: dict[str, set[str]] = {}
    for entry in lock.entries:
        recorded.setdefault(entry.job, set()).add(entry.path)
    done: dict[str, tuple[FileRecord, ...]] = {}
    for job in plan.jobs:
        if recorded.get(job.key) == set(job.outputs) and all(p in intact for p in job.outputs):
            done.setdefault(job.key, tuple(intact[path] for path in job.outputs))
    return done


def _free(target: Path, record: FileRecord, ours: Mapping[str, str], files: LockFiles) -> bool:
    """Whether an adopted file may be copied to target: nothing there, the same bytes already,
    or a file this folder's lock says Backdrop wrote (a run would replace it too)."""
    if not os.path.lexists(target):
        return True
    return target.is_file() and (record.path in ours or files.sha256(target) == record.sha256)
