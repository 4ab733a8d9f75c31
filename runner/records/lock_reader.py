"""Reading a backdrop.lock that anyone may have written: a pull request commits it, and CI reads
it with `plan --diff`.

The file is read only when it lies, links followed, inside the output folder's project, and
only up to MAX_LOCK_BYTES, and only when it is not made of tiny values (VALUE_BYTES). Every
value is checked before anything uses it (lock_checks.py: a path is a name a file can have,
inside the folder, written as backdrop writes it; a generation says what it cost), and each
mistake is told at backdrop.lock:LINE:COL, the first MAX_SHOWN of them and a count of the rest.
Positions are looked for only then: a lock as backdrop writes it is parsed and checked at the
speed of the json module.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from runner.diagnostics import MAX_SHOWN, Diagnostic, RecipeError, display_path
from runner.jsontext import JsonProblem, TextPositions, parse_json, value_offsets
from runner.plan.fingerprints import FIELDS
from runner.recipe.files import FileProblem, data_roots, read_project_file
from runner.records.lock_checks import (
    Problem,
    document_problems,
    generation_key,
    generation_problems,
    generations_as_written,
    output_problems,
    outputs_as_written,
)
from runner.records.lockfile import (
    LOCK_NAME,
    FileHashes,
    LockEntry,
    LockFile,
    LockFileProblem,
    find_stale,
)
from runner.records.run_records import GenerationRecord
from runner.records.state_folder import STATE_DIR

# The largest lock a campaign within the default job cap writes (10,000 jobs at n = 10, with
# ten generations each) is about 60 MiB; read, checked and compared by plan --diff in a few
# seconds (bench/README.md, bench/bench_largest_lock.py).
MAX_LOCK_BYTES = 64 * 1024 * 1024
# A lock as backdrop writes it has one JSON value per 25 bytes or more; a file of tiny values
# (`[[],[],...]`: one per 3 bytes) would make tens of millions of objects, gigabytes. Past a
# megabyte, a file with more than one value per VALUE_BYTES bytes is refused before parsing,
# which bounds the memory of any file under the cap to a few hundred megabytes. Values are
# counted from the commas and brackets (an upper bound: a comma inside a text counts too).
VALUE_BYTES = 10
_DENSE_FROM = 1024 * 1024
LINK_HINT = "replace the link with the file itself: backdrop writes backdrop.lock there"
_CHUNK = 256  # entries checked at once by the quick checks


class LockFileError(LockFileProblem, RecipeError):
    """backdrop.lock has mistakes: each is a Diagnostic at backdrop.lock:LINE:COL (exit 2)."""

    def __init__(self, diagnostics: list[Diagnostic], *, unexamined: int = 0) -> None:
        RecipeError.__init__(self, diagnostics, unexamined=unexamined)
        self.hint = next((d.hint for d in self.diagnostics() if d.hint), None)


def read_lock_file(path: Path, rebuild: str) -> LockFile:
    """The lock at `path` (which exists), checked; LockFileError for any mistake.

    rebuild: what to do about a lock that cannot be used, said with each mistake.
    """
    shown = display_path(path)
    try:
        raw = read_project_file(
            path,
            data_roots(path.parent),
            MAX_LOCK_BYTES,
            linked=LINK_HINT,
            too_large_hint=(
                "backdrop's own locks stay under this up to 10,000 jobs at n = 10 with ten"
                " generations each; for a campaign larger still, run it in shards (run --shard"
                f" K/N: each shard folder has its own lock); otherwise {rebuild}"
            ),
        )
    except FileProblem as problem:
        told = Diagnostic(f"the file {problem.message}", hint=problem.hint or rebuild, file=shown)
        raise LockFileError([told]) from None
    digest = hashlib.sha256(raw).digest()
    if digest in _READ:  # the same bytes checked before (verify reads the lock twice)
        return _READ[digest]
    values = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
    if len(raw) > _DENSE_FROM and values * VALUE_BYTES > len(raw):
        dense = (
            f"the file holds about {values:,} JSON values in {len(raw):,} bytes, one per"
            f" {len(raw) / values:.1f} bytes: backdrop writes one per {VALUE_BYTES * 2} bytes or"
            " more, so this is not a lock backdrop wrote"
        )
        raise LockFileError([Diagnostic(dense, hint=rebuild, file=shown)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})"
        raise LockFileError([Diagnostic(message, hint=rebuild, file=shown)]) from None
    del raw  # a copy less while parsing
    try:
        data = parse_json(text)
    except JsonProblem as problem:
        span = TextPositions(text).span(shown, problem.offset)
        raise LockFileError([Diagnostic(problem.message, span=span, hint=rebuild)]) from None
    mistakes, untold = _mistakes(data)
    if mistakes or untold:
        _raise_at(text, shown, mistakes, untold, rebuild)
    lock = LockFile(
        data.get("recipe", ""),
        tuple(
            LockEntry(item["path"], item["job"], item["sha256"], _request(item))
            for item in data["outputs"]
        ),
        _generations(data.get("generations", [])),
    )
    while len(_READ) >= _READ_KEPT:
        del _READ[next(iter(_READ))]
    _READ[digest] = lock
    return lock


# Locks read lately, by the sha256 of their bytes: exact, however fast a file is rewritten.
_READ: dict[bytes, LockFile] = {}
_READ_KEPT = 4


def _raise_at(text: str, shown: str, told: list[Problem], untold: int, rebuild: str) -> None:
    starts = value_offsets(text, [path for path, _ in told])
    positions = TextPositions(text)
    raise LockFileError(
        [  # the hint once: it is the same for every mistake
            Diagnostic(
                message, span=positions.span(shown, starts[path]), hint=rebuild if i == 0 else None
            )
            for i, (path, message) in enumerate(told)
        ],
        unexamined=untold,
    )


def _mistakes(data: Any) -> tuple[list[Problem], int]:
    """The first MAX_SHOWN mistakes, worded, and how many more there are (an entry past those
    counts once, however many mistakes it has)."""
    told, readable = document_problems(data)
    if not readable:
        return told, 0
    untold = 0
    outputs, generations = data.get("outputs"), data.get("generations", [])
    if isinstance(outputs, list):
        untold += _entry_mistakes(outputs, outputs_as_written, output_problems, told)
    if isinstance(generations, list):
        untold += _entry_mistakes(generations, generations_as_written, generation_problems, told)
    if len(told) > MAX_SHOWN:
        untold += len(told) - MAX_SHOWN
        del told[MAX_SHOWN:]
    return told, untold


K = TypeVar("K")


def _entry_mistakes(
    entries: list[Any],
    quick: Callable[[list[Any]], list[K] | None],
    check: Callable[[int, Any, dict[K, int], bool], list[Problem]],
    told: list[Problem],
) -> int:
    """Adds the entries' mistakes to `told` up to MAX_SHOWN; returns how many entries past
    those have one. Runs of entries as backdrop writes them are checked at once."""
    first: dict[K, int] = {}  # each entry's key (path; id and job) -> where it first is
    untold = 0
    for start in range(0, len(entries), _CHUNK):
        chunk = entries[start : start + _CHUNK]
        keys = quick(chunk)
        if keys is not None and len(set(keys)) == len(keys) and first.keys().isdisjoint(keys):
            first.update(zip(keys, range(start, start + len(chunk)), strict=True))
            continue
        for number, item in enumerate(chunk, start):
            if len(told) < MAX_SHOWN:
                told.extend(check(number, item, first, True))
            elif check(number, item, first, False):
                untold += 1
    return untold


def _request(item: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The entry's request fingerprints (fields unknown to this version are left out)."""
    request: dict[str, Any] = item["request"]  # a mapping of text, as lock_checks made sure
    if tuple(request) == FIELDS and "" not in request.values():  # as backdrop writes it
        return tuple(request.items())
    return tuple(
        (name, value) for name in FIELDS if isinstance(value := request.get(name), str) and value
    )


def _generations(items: list[dict[str, Any]]) -> tuple[GenerationRecord, ...]:
    """The lock's spending record, each entry checked (lock_checks.py): every generation it
    lists counts, none is left out."""
    return tuple(
        GenerationRecord(ident, job, item.get("run"), item["n"], item["quality"], item["size"])
        for item in items
        for ident, job in (generation_key(item),)
    )


@dataclass(frozen=True)
class VerifyResult:
    missing: tuple[str, ...]  # in the lock, not on disk
    changed: tuple[str, ...]  # on disk with another sha256 than the lock's
    stale: tuple[str, ...]  # images on disk that no output in the lock accounts for

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.stale)


def read_lock(output_dir: Path) -> LockFile:
    """output_dir's lock, every value checked (lock_reader.py): LockFileProblem when there is none,
    LockFileError (one of them, with positions) when it cannot be used."""
    path = output_dir / LOCK_NAME
    if not os.path.lexists(path):
        shards = sorted(output_dir.glob(f"shard-*/{LOCK_NAME}"))
        if shards:  # a sharded run's folder: each shard has its own lock
            raise LockFileProblem(
                f"no {LOCK_NAME} in {output_dir}: its runs wrote into shard folders",
                hint=f"verify each of them, e.g. backdrop verify {shards[0].parent}",
            )
        if not (output_dir / STATE_DIR).is_dir():  # `backdrop report` would find no run either
            raise LockFileProblem(
                f"no {LOCK_NAME} in {output_dir}: no run has written to it",
                hint="check the folder name (it is the recipe's output folder, e.g. "
                "out/spring-campaign), or run the recipe first: backdrop run RECIPE",
            )
        raise LockFileProblem(
            f"no {LOCK_NAME} in {output_dir}",
            hint=f"Run the recipe first, or write the reports with `backdrop report {output_dir}`.",
        )
    shown = display_path(path)
    return read_lock_file(
        path,
        f"restore it from git (git checkout -- {shown}), or rebuild it where this folder's"
        f" {STATE_DIR} state is, with `backdrop report {display_path(output_dir)}`",
    )


def verify_outputs(output_dir: Path) -> VerifyResult:
    """Check every output in output_dir/backdrop.lock against the files on disk."""
    lock = read_lock(output_dir)
    paths = [os.path.join(output_dir, entry.path) for entry in lock.entries]
    hashes = FileHashes(data_roots(output_dir)).many(paths)
    missing = [
        e.path
        for e, path, digest in zip(lock.entries, paths, hashes, strict=True)
        if digest is None and not os.path.lexists(path)
    ]
    changed = [
        e.path
        for e, path, digest in zip(lock.entries, paths, hashes, strict=True)
        if digest != e.sha256 and os.path.lexists(path)
    ]
    stale = [path.as_posix() for path in find_stale(output_dir, lock)]
    return VerifyResult(tuple(missing), tuple(changed), tuple(stale))
