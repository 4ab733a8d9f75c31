"""Reading a backdrop.lock that anyone may have written: a pull request commits it, and CI reads
it with `plan --diff`.

The file is read only when it lies, links followed, inside the output folder's project, and
only up to MAX_LOCK_BYTES. Every value is checked before anything uses it (a path is a name a
file can have, inside the folder, written as backdrop writes it), and each mistake is told at
backdrop.lock:LINE:COL, the first MAX_SHOWN of them and a count of the rest.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.api.limits import N_RANGE, QUALITIES, SIZES
from runner.diagnostics import MAX_SHOWN, Diagnostic, RecipeError, display_path
from runner.execute.lock import STATE_DIR
from runner.execute.records import MAYBE_PREFIX, GenerationRecord
from runner.jsontext import JsonProblem, TextPositions, parse_json, value_offsets
from runner.plan.fingerprints import FIELDS
from runner.recipe.files import FileProblem, data_roots, read_project_file, stored_path_problem
from runner.recipe.model import NodePath
from runner.report.manifest import READABLE_FORMATS, Lock, LockEntry, ManifestError

# About 80,000 outputs with their fingerprints (10,000 jobs of up to 8 images): read, checked
# and compared by plan --diff in a few seconds whatever the file holds (bench/README.md).
MAX_LOCK_BYTES = 32 * 1024 * 1024
MAX_JOB_CHARS = 200  # a job key is 64 characters, plus a suffix for repeated requests
LINK_HINT = "replace the link with the file itself: backdrop writes backdrop.lock there"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class LockFileError(ManifestError, RecipeError):
    """backdrop.lock has mistakes: each is a Diagnostic at backdrop.lock:LINE:COL (exit 2)."""

    def __init__(self, diagnostics: list[Diagnostic], *, unexamined: int = 0) -> None:
        RecipeError.__init__(self, diagnostics, unexamined=unexamined)
        self.hint = next((d.hint for d in self.diagnostics() if d.hint), None)


def read_lock_file(path: Path, rebuild: str) -> Lock:
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
            too_large_hint=f"this is not a lock backdrop wrote; {rebuild}",
        )
    except FileProblem as problem:
        told = Diagnostic(f"the file {problem.message}", hint=problem.hint or rebuild, file=shown)
        raise LockFileError([told]) from None
    digest = hashlib.sha256(raw).digest()
    if digest in _READ:  # the same bytes checked before (verify reads the lock twice)
        return _READ[digest]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line})"
        raise LockFileError([Diagnostic(message, hint=rebuild, file=shown)]) from None
    try:
        data = parse_json(text)
    except JsonProblem as problem:
        span = TextPositions(text).span(shown, problem.offset)
        raise LockFileError([Diagnostic(problem.message, span=span, hint=rebuild)]) from None
    problems = list(_problems(data))
    if problems:
        _raise_at(text, shown, problems, rebuild)
    lock = Lock(
        data.get("recipe", ""),
        tuple(
            LockEntry(item["path"], item["job"], item["sha256"], _request(item))
            for item in data["outputs"]
        ),
        _generations(data.get("generations")),
    )
    while len(_READ) >= _READ_KEPT:
        del _READ[next(iter(_READ))]
    _READ[digest] = lock
    return lock


# Locks read lately, by the sha256 of their bytes: exact, however fast a file is rewritten.
_READ: dict[bytes, Lock] = {}
_READ_KEPT = 4


def _raise_at(text: str, shown: str, problems: list[tuple[NodePath, str]], rebuild: str) -> None:
    told = problems[:MAX_SHOWN]
    starts = value_offsets(text, [path for path, _ in told])
    positions = TextPositions(text)
    raise LockFileError(
        [  # the hint once: it is the same for every mistake
            Diagnostic(
                message, span=positions.span(shown, starts[path]), hint=rebuild if i == 0 else None
            )
            for i, (path, message) in enumerate(told)
        ],
        unexamined=len(problems) - len(told),
    )


def _problems(data: Any) -> Iterator[tuple[NodePath, str]]:
    """(where, what is wrong) for every value backdrop would not have written."""
    if not isinstance(data, dict):
        yield (), 'a backdrop.lock is a JSON object with "format" and "outputs"'
        return
    version = data.get("format")
    readable = " and ".join(map(str, sorted(READABLE_FORMATS)))
    if type(version) is not int:
        yield ("format",), f'"format" must be the number of the lock\'s format ({readable})'
        return
    if version not in READABLE_FORMATS:
        yield (
            ("format",),
            (
                f"this backdrop.lock is format {version}; this backdrop reads formats {readable} "
                "(a newer backdrop may have written it)"
            ),
        )
        return
    recipe = data.get("recipe", "")
    if not isinstance(recipe, str) or _text_problem(recipe):
        yield ("recipe",), "the recipe name must be text"
    outputs = data.get("outputs")
    if not isinstance(outputs, list):
        yield ("outputs",), '"outputs" must be a list of the output files'
        return
    first: dict[str, int] = {}
    for number, item in enumerate(outputs):
        if _as_written(item) and item["path"] not in first:  # the quick way, 150,000 times
            first[item["path"]] = number
            continue
        where: NodePath = ("outputs", number)
        if not isinstance(item, dict):
            yield where, f"output {number + 1} must be an object with path, job and sha256"
            continue
        path = item.get("path")
        problem = _path_problem(path)
        if problem is not None:
            yield (*where, "path"), f"output {number + 1}: {problem}"
        elif isinstance(path, str):
            if path in first:
                yield (
                    (*where, "path"),
                    (f"output {number + 1} lists {path} again (output {first[path] + 1} did)"),
                )
            first.setdefault(path, number)
        job = item.get("job")
        if not isinstance(job, str) or not job or len(job) > MAX_JOB_CHARS or _text_problem(job):
            yield (*where, "job"), f'output {number + 1}: "job" must be a job key (text)'
        digest = item.get("sha256")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            yield (
                (*where, "sha256"),
                (f'output {number + 1}: "sha256" must be 64 hexadecimal digits (a-f, 0-9)'),
            )
        request = item.get("request")
        if request is not None and not (
            isinstance(request, dict)
            and all(isinstance(value, str) and len(value) <= 64 for value in request.values())
        ):
            yield (
                (*where, "request"),
                (f'output {number + 1}: "request" must map each field to a short fingerprint'),
            )


# What backdrop writes, as one regular expression per field: never more than the checks below
# take (a name of at most 63 characters is at most 252 bytes), so anything else is looked at
# by them, and said.
_NAME = r"(?!\.\.?(?:/|\Z))[^/\\\x00-\x1f\x7f\ud800-\udfff]{1,63}"
_WRITTEN_PATH = re.compile(rf"(?!\.backdrop(?:/|\Z)){_NAME}(?:/{_NAME})*")
_WRITTEN_JOB = re.compile(rf"[^\ud800-\udfff]{{1,{MAX_JOB_CHARS}}}", re.DOTALL)


def _as_written(item: Any) -> bool:
    """Whether an output entry is plainly as backdrop writes it (then _problems has nothing
    to say about it but a repeated path)."""
    if type(item) is not dict:
        return False
    path, job, digest = item.get("path"), item.get("job"), item.get("sha256")
    request = item.get("request")
    return (
        type(path) is str
        and _WRITTEN_PATH.fullmatch(path) is not None
        and type(job) is str
        and _WRITTEN_JOB.fullmatch(job) is not None
        and type(digest) is str
        and _SHA256.fullmatch(digest) is not None
        and (
            request is None
            or (
                type(request) is dict
                and all(type(value) is str and len(value) <= 64 for value in request.values())
            )
        )
    )


def _path_problem(path: Any) -> str | None:
    """Why `path` cannot be an output backdrop wrote in this folder, or None."""
    if not isinstance(path, str):
        return '"path" must be the output\'s path in this folder (text)'
    # A committed lock must not make verify or a run read elsewhere.
    return stored_path_problem(path, STATE_DIR)


def _text_problem(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "the text holds an invalid character (a lone surrogate)"
    return None


def _request(item: dict[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """The entry's request fingerprints (fields unknown to this version are left out)."""
    request = item.get("request")
    if not isinstance(request, dict):
        return None
    if tuple(request) == FIELDS and all(request.values()):  # as backdrop writes it: quick
        return tuple(request.items())
    return tuple(
        (name, value) for name in FIELDS if isinstance(value := request.get(name), str) and value
    )


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
