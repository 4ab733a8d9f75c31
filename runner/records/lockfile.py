"""backdrop.lock: a manifest of the outputs, meant to be committed next to the images.

The file is JSON written the same way every time: sorted by path, one output per line, no
timestamps, a trailing newline. Re-writing it from an unchanged run gives the same bytes, so
`git diff` stays clean. Jobs that failed or have not run have no entries. Paths are POSIX and
relative to the folder holding the lock (a merged report's lock may point into sibling folders
with `../`).

Format 2 (the only one: nothing released wrote another) has, per output, short fingerprints of
the job's request fields (prompt, size, ..., take: runner/plan/fingerprints.py), so that
`plan --diff` in a fresh clone can name what changed.

`generations` (left out while it would be empty) lists every generation the folder paid for or
may have (one that got no answer: `"maybe": true`), forced-over ones too, by the id that
identifies it, with its run, n, quality and size: what the budget counts in a fresh clone
(runner/records/spend.py). It only grows when something is generated, so an unchanged re-run
leaves the lock as it was.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from runner.diagnostics import BackdropError
from runner.fileio import NotAFile, open_regular, sha256_stream
from runner.plan.fingerprints import request_fingerprints
from runner.recipe.files import FileProblem, confine
from runner.records.run_records import MAX_OUTPUT_BYTES, GenerationRecord, RunSnapshot
from runner.report_files import REPORT_FILES

LOCK_NAME = "backdrop.lock"
LOCK_FORMAT = 2
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})


class LockFileProblem(BackdropError):
    """backdrop.lock is missing or cannot be read."""


@dataclass(frozen=True)
class LockEntry:
    path: str
    job: str
    sha256: str
    request: tuple[tuple[str, str], ...]  # (field, fingerprint) of the job's request, FIELDS order


@dataclass(frozen=True)
class LockFile:
    recipe: str
    entries: tuple[LockEntry, ...]  # sorted by path
    generations: tuple[GenerationRecord, ...] = ()  # by run, then id


def build_lock(snapshot: RunSnapshot, earlier: Iterable[GenerationRecord] = ()) -> LockFile:
    """The lock of a snapshot; `earlier`: the generations the lock on disk records, kept (a
    lock pulled from git knows spending this state may not)."""
    entries = {
        record.path: LockEntry(
            record.path,
            job.key,
            record.sha256,
            request_fingerprints(job.prompt_object, f"{job.image_kind}:{job.image_ref}", job.take),
        )
        for job in sorted(snapshot.jobs, key=lambda job: job.index)
        if job.status in ("done", "skipped")
        for record in job.files
    }
    known = {(g.id, g.job): g for g in earlier}
    known.update({(g.id, g.job): g for g in snapshot.generations})
    generations = sorted(known.values(), key=lambda g: (g.run or "", g.id, g.job))
    return LockFile(
        snapshot.recipe_name, tuple(entries[path] for path in sorted(entries)), tuple(generations)
    )


def render_lock(lock: LockFile) -> str:
    def text(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = [
        "{",
        f'  "format": {LOCK_FORMAT},',
        f'  "generator": {text("backdrop: rebuilt by backdrop run and backdrop report")},',
        f'  "recipe": {text(lock.recipe)},',
    ]
    if not lock.entries:
        lines.append('  "outputs": []')
    else:
        lines.append('  "outputs": [')
        rows = [_render_entry(e, text) for e in lock.entries]
        lines.append(",\n".join(rows))
        lines.append("  ]")
    if lock.generations:
        lines[-1] += ","
        lines.append('  "generations": [')
        lines.append(",\n".join(_render_generation(g, text) for g in lock.generations))
        lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _render_generation(generation: GenerationRecord, text: Callable[[str], str]) -> str:
    row = f'    {{"id": {text(generation.id)}, "job": {text(generation.job)}'
    if generation.run is not None:
        row += f', "run": {text(generation.run)}'
    row += f', "n": {generation.images}, "quality": {text(generation.quality)}'
    row += f', "size": {text(generation.size)}'
    return row + (', "maybe": true}' if generation.maybe else "}")


def _render_entry(entry: LockEntry, text: Callable[[str], str]) -> str:
    row = f'    {{"path": {text(entry.path)}, "job": {text(entry.job)}'
    row += f', "sha256": {text(entry.sha256)}'
    prints = ", ".join(f"{text(name)}: {text(value)}" for name, value in entry.request)
    return row + f', "request": {{{prints}}}}}'


def find_stale(output_dir: Path, produced_by: RunSnapshot | LockFile) -> list[Path]:
    """Images in output_dir (relative paths, sorted) that no job produces.

    With a snapshot, a job's planned outputs count as well as its files, so that an image whose
    job failed this time is not called stale. Folders starting with a dot (.backdrop, .git) and
    the report files are never looked at, nor a folder with its own backdrop.lock (a shard's
    folder, out/NAME/shard-K: its lock accounts for its images).
    """
    if isinstance(produced_by, LockFile):
        expected = {entry.path for entry in produced_by.entries}  # normal (lock_reader.py)
    else:
        expected = {
            _normal(path)
            for job in produced_by.jobs
            for path in (*job.outputs, *(record.path for record in job.files))
        }
    stale: list[Path] = []
    for root, dirs, files in os.walk(output_dir):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not Path(root, d, LOCK_NAME).is_file()
        )
        relative_root = Path(root).relative_to(output_dir)
        for name in files:
            if name in REPORT_FILES or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            relative = relative_root / name
            if relative.as_posix() not in expected:
                stale.append(relative)
    return sorted(stale, key=lambda path: path.as_posix())


def _normal(path: str) -> str:
    return PurePosixPath(os.path.normpath(path)).as_posix()


_THREADED_MEAN_BYTES = 256 * 1024


class FileHashes:
    """The sha256 of output files for one use, each file hashed once however many names lead
    to it (links; a lock that names one file 1,000 times), and only when it lies inside
    `roots` (links followed): a committed lock must not make backdrop read elsewhere.

    Kept for one use only: a file may change between two commands, even within a second.
    """

    def __init__(self, roots: Sequence[Path]) -> None:
        self.roots = roots
        self._known: dict[tuple[int, int, int, int], str | None] = {}
        self._identities: dict[str, tuple[int, int, int, int] | None] = {}
        self._folders: dict[str, bool] = {}

    def of(self, path: Path | str) -> str | None:
        key = self.identity(path)
        if key is None:
            return None
        if key not in self._known:
            self._known[key] = sha256_of(Path(path))
        return self._known[key]

    def many(self, paths: Sequence[Path | str]) -> list[str | None]:
        """Each path's sha256 (None: missing, outside, not a regular file, too large)."""
        keys = [self.identity(path) for path in paths]
        todo = {
            key: path
            for key, path in zip(keys, paths, strict=True)
            if key is not None and key not in self._known
        }
        # Threads pay when hashing is the work (hashlib lets go of the GIL for big buffers); for
        # small files, handing each to a thread costs more than hashing it (100,000 of 4 KB:
        # twice the time).
        if len(todo) > 1 and sum(key[2] for key in todo) > len(todo) * _THREADED_MEAN_BYTES:
            with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
                digests = pool.map(sha256_of, map(Path, todo.values()))
                self._known.update(zip(todo, digests, strict=True))
        else:
            self._known.update((key, sha256_of(Path(path))) for key, path in todo.items())
        return [None if key is None else self._known[key] for key in keys]

    def remember(self, identity: tuple[int, int, int, int], sha256: str) -> None:
        """A hash found while reading the file for another reason (adopt.LockFiles)."""
        self._known[identity] = sha256

    def identity(self, path: Path | str) -> tuple[int, int, int, int] | None:
        """What tells the file behind `path` apart; None when it is not one to read."""
        name = os.fspath(path)
        if name not in self._identities:
            self._identities[name] = self._look(name)
        return self._identities[name]

    def _look(self, path: str) -> tuple[int, int, int, int] | None:
        try:
            info = os.lstat(path)  # first: most names a hostile lock lists do not exist
            if stat.S_ISLNK(info.st_mode):
                info = os.stat(path)
                confine(Path(path), self.roots)  # where the link leads must be inside
            elif not self._folder_inside(os.path.dirname(path)):
                return None
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_OUTPUT_BYTES:
                return None
        except (FileProblem, OSError, ValueError):
            return None
        return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)

    def _folder_inside(self, folder: str) -> bool:
        """Whether `folder`, links followed, lies inside the roots: a file in it that is no link
        lies where the folder does (one realpath per folder, not one per file of 100,000)."""
        if folder not in self._folders:
            try:
                confine(Path(folder or "."), self.roots)
                self._folders[folder] = True
            except FileProblem:
                self._folders[folder] = False
        return self._folders[folder]


def sha256_of(path: Path) -> str | None:
    """The file's sha256; None when it does not exist or cannot be read, or is no regular file
    (a pipe would block forever) or larger than any image backdrop writes. Links are followed:
    FileHashes confines them first."""
    try:
        handle, info = open_regular(path, follow_links=True)
    except (OSError, ValueError, NotAFile):
        return None
    with handle:
        if info.st_size > MAX_OUTPUT_BYTES:
            return None
        try:
            return sha256_stream(handle)
        except OSError:
            return None
