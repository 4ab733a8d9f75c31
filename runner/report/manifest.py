"""backdrop.lock: a manifest of the outputs, meant to be committed next to the images.

The file is JSON written the same way every time: sorted by path, one output per line, no
timestamps, a trailing newline. Re-writing it from an unchanged run gives the same bytes, so
`git diff` stays clean. Jobs that failed or have not run have no entries. Paths are POSIX and
relative to the folder holding the lock (a merged report's lock may point into sibling folders
with `../`).

Format 2 adds, per output, short fingerprints of the job's request fields (prompt, size, ...,
take: runner/plan/fingerprints.py), so that `plan --diff` in a fresh clone can name what changed.
Format 1 locks are still read (without them).

`generations` (optional, still format 2: older readers ignore it) lists every generation the
folder paid for or may have (one that got no answer: `"maybe": true`), forced-over ones too, by
the id that identifies it, with its run, n, quality and size: what the budget counts in a fresh
clone (runner/execute/spend.py). It only grows when something is generated, so an unchanged
re-run leaves the lock as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from runner.api.limits import N_RANGE, QUALITIES, SIZES
from runner.diagnostics import BackdropError
from runner.execute.folder_guard import STATE_DIR
from runner.execute.records import MAYBE_PREFIX, GenerationRecord, RunSnapshot
from runner.plan.fingerprints import FIELDS, request_fingerprints

LOCK_NAME = "backdrop.lock"
LOCK_FORMAT = 2
READABLE_FORMATS = frozenset({1, LOCK_FORMAT})  # 1: without the request fingerprints
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
REPORT_FILES = frozenset({"report.html", "results.json", "results.csv", "junit.xml", LOCK_NAME})


class ManifestError(BackdropError):
    """backdrop.lock is missing or cannot be read."""


@dataclass(frozen=True)
class LockEntry:
    path: str
    job: str
    sha256: str
    # (field, fingerprint) of the job's request, in FIELDS order; None in a format-1 lock.
    request: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class Lock:
    recipe: str
    entries: tuple[LockEntry, ...]  # sorted by path
    generations: tuple[GenerationRecord, ...] = ()  # by run, then id


@dataclass(frozen=True)
class VerifyResult:
    missing: tuple[str, ...]  # in the lock, not on disk
    changed: tuple[str, ...]  # on disk with another sha256 than the lock's
    stale: tuple[str, ...]  # images on disk that no output in the lock accounts for

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.stale)


def build_lock(snapshot: RunSnapshot, earlier: Iterable[GenerationRecord] = ()) -> Lock:
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
    return Lock(
        snapshot.recipe_name, tuple(entries[path] for path in sorted(entries)), tuple(generations)
    )


def render_lock(lock: Lock) -> str:
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
    if entry.request is not None:
        prints = ", ".join(f"{text(name)}: {text(value)}" for name, value in entry.request)
        row += f', "request": {{{prints}}}'
    return row + "}"


def read_lock(output_dir: Path) -> Lock:
    path = output_dir / LOCK_NAME
    rebuild = f"Rebuild it with `backdrop report {output_dir}`."
    if not path.is_file():
        shards = sorted(output_dir.glob(f"shard-*/{LOCK_NAME}"))
        if shards:  # a sharded run's folder: each shard has its own lock
            raise ManifestError(
                f"no {LOCK_NAME} in {output_dir}: its runs wrote into shard folders",
                hint=f"verify each of them, e.g. backdrop verify {shards[0].parent}",
            )
        if not (output_dir / STATE_DIR).is_dir():  # `backdrop report` would find no run either
            raise ManifestError(
                f"no {LOCK_NAME} in {output_dir}: no run has written to it",
                hint="check the folder name (it is the recipe's output folder, e.g. "
                "out/spring-campaign), or run the recipe first: backdrop run RECIPE",
            )
        raise ManifestError(
            f"no {LOCK_NAME} in {output_dir}",
            hint=f"Run the recipe first, or write the reports with `backdrop report {output_dir}`.",
        )
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path} cannot be read: {error}", hint=rebuild) from None
    if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS:
        raise ManifestError(f"{path} is not a backdrop.lock this version understands", hint=rebuild)
    outputs = data.get("outputs")
    entries: list[LockEntry] = []
    for number, item in enumerate(outputs if isinstance(outputs, list) else [None]):
        fields = [item.get(k) for k in ("path", "job", "sha256")] if isinstance(item, dict) else []
        texts = [f for f in fields if isinstance(f, str) and f]
        if len(texts) != 3:
            raise ManifestError(f"{path}: output {number + 1} is malformed", hint=rebuild)
        if not _inside(texts[0]):
            # A committed lock comes from many hands: it must not make verify read elsewhere.
            raise ManifestError(
                f"{path}: output {number + 1} ({texts[0]!r}) is outside the folder", hint=rebuild
            )
        assert isinstance(item, dict)  # texts has 3 items only from a dict
        entries.append(LockEntry(texts[0], texts[1], texts[2], _request(item)))
    return Lock(str(data.get("recipe", "")), tuple(entries), _generations(data.get("generations")))


_MAX_ID = 200  # characters of an id, a job key or a run id: far more than any real one


def _generations(items: object) -> tuple[GenerationRecord, ...]:
    """The lock's spending record. An entry that cannot say what it cost is left out (the rest
    of the lock still counts): the budget then counts that job from the outputs, once."""
    found: dict[tuple[str, str], GenerationRecord] = {}
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        uuid, job, run = item.get("id"), item.get("job"), item.get("run")
        images, quality, size = item.get("n"), item.get("quality"), item.get("size")
        if not all(isinstance(v, str) and 0 < len(v) <= _MAX_ID for v in (uuid, job)):
            continue
        if run is not None and not (isinstance(run, str) and len(run) <= _MAX_ID):
            continue
        if isinstance(images, bool) or not isinstance(images, int):
            continue
        if not N_RANGE[0] <= images <= N_RANGE[1] or quality not in QUALITIES or size not in SIZES:
            continue
        assert isinstance(uuid, str) and isinstance(job, str)
        if item.get("maybe") is True and not uuid.startswith(MAYBE_PREFIX):
            uuid = MAYBE_PREFIX + uuid
        record = GenerationRecord(uuid, job, run, images, str(quality), str(size))
        found.setdefault((uuid, job), record)
    return tuple(found.values())


def _request(item: dict[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """The entry's request fingerprints (fields unknown to this version are left out)."""
    request = item.get("request")
    if not isinstance(request, dict):
        return None
    return tuple(
        (name, value) for name in FIELDS if isinstance(value := request.get(name), str) and value
    )


def _inside(relative: str) -> bool:
    pure = PurePosixPath(relative)
    return not pure.is_absolute() and ".." not in pure.parts and "\\" not in relative


def verify_outputs(output_dir: Path) -> VerifyResult:
    """Check every output in output_dir/backdrop.lock against the files on disk."""
    lock = read_lock(output_dir)
    hashes = _hash_files(output_dir / entry.path for entry in lock.entries)
    missing = [e.path for e, digest in zip(lock.entries, hashes, strict=True) if digest is None]
    changed = [
        e.path
        for e, digest in zip(lock.entries, hashes, strict=True)
        if digest is not None and digest != e.sha256
    ]
    stale = [path.as_posix() for path in find_stale(output_dir, lock)]
    return VerifyResult(tuple(missing), tuple(changed), tuple(stale))


def find_stale(output_dir: Path, produced_by: RunSnapshot | Lock) -> list[Path]:
    """Images in output_dir (relative paths, sorted) that no job produces.

    With a snapshot, a job's planned outputs count as well as its files, so that an image whose
    job failed this time is not called stale. Folders starting with a dot (.backdrop, .git) and
    the report files are never looked at, nor a folder with its own backdrop.lock (a shard's
    folder, out/NAME/shard-K: its lock accounts for its images).
    """
    if isinstance(produced_by, Lock):
        expected = {_normal(entry.path) for entry in produced_by.entries}
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


def _hash_files(paths: Iterable[Path]) -> list[str | None]:
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        return list(pool.map(sha256_of, paths))


def sha256_of(path: Path) -> str | None:
    """The file's sha256, or None when it does not exist or cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
