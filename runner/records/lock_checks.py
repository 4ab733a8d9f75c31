"""What a backdrop.lock's values may be: the checks lock_reader.py reads the file with.

Each kind of entry (an output, a generation) is checked two ways that must agree exactly:
- `*_as_written(chunk)`: a run of entries at once, field by field over all of them with the
  interpreter's own loops (set, map, one regular expression over the joined paths), for the
  entries as backdrop writes them; it takes no more than the per-entry checks do (it may take
  less: those then decide), so that 100,000 outputs are checked in a fraction of a second;
- `*_problems(number, item, seen, say)`: one entry, with each mistake worded (say=True) for
  the first ones shown, or only whether there is one (say=False), to count the rest quickly.
A test holds the quick checks to never take an entry the per-entry ones refuse.
"""

from __future__ import annotations

import re
from typing import Any

from runner.api.limits import N_RANGE, QUALITIES, SIZES
from runner.jsontext import NodePath
from runner.recipe.files import stored_path_problem
from runner.records.lockfile import LOCK_FORMAT
from runner.records.run_records import MAYBE_PREFIX
from runner.records.state_folder import STATE_DIR

MAX_JOB_CHARS = 200  # a job key is 64 characters, plus a suffix for repeated requests
MAX_ID_CHARS = 200  # a generation's id or its run's: far more than any real one
MAX_FINGERPRINT_CHARS = 64
MAX_NAME_BYTES = 255

Problem = tuple[NodePath, str]
SOME: list[Problem] = [((), "")]  # say=False: there is a mistake (not worded)

_SHA256 = re.compile(r"[0-9a-f]{64}")
_HEX = re.compile(r"[0-9a-f]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
# A path as backdrop writes it: names of 1 to 255 characters (their bytes are counted apart)
# without a control character, a slash or a backslash, not "." or "..", outside .backdrop. In
# a run of paths joined by line breaks (which no name holds), one match checks them all.
_NAME = r"(?!\.\.?(?:[/\n]|\Z))[^/\\\x00-\x1f\x7f\ud800-\udfff]{1,255}"
_PATH = rf"(?!\.backdrop(?:[/\n]|\Z)){_NAME}(?:/{_NAME})*"
_WRITTEN_PATH = re.compile(_PATH)
_WRITTEN_PATHS = re.compile(rf"{_PATH}(?:\n{_PATH})*")
_QUALITIES = frozenset(QUALITIES)
_SIZES = frozenset(SIZES)


# --- the document ------------------------------------------------------------------------------


def document_problems(data: Any) -> tuple[list[Problem], bool]:
    """The mistakes outside the entries, and whether the entries can be looked at (the file is
    an object of a format this backdrop reads)."""
    if not isinstance(data, dict):
        return [((), 'a backdrop.lock is a JSON object with "format" and "outputs"')], False
    version = data.get("format")
    if type(version) is not int:
        told = f'"format" must be the number of the lock\'s format ({LOCK_FORMAT})'
        return [(("format",), told)], False
    if version != LOCK_FORMAT:
        told = f"this backdrop.lock is format {version}; this backdrop reads format {LOCK_FORMAT}"
        newer = " (a newer backdrop may have written it)" if version > LOCK_FORMAT else ""
        return [(("format",), told + newer)], False
    found: list[Problem] = []
    recipe = data.get("recipe", "")
    if not isinstance(recipe, str) or not _text_ok(recipe):
        found.append((("recipe",), "the recipe name must be text"))
    if not isinstance(data.get("outputs"), list):
        found.append((("outputs",), '"outputs" must be a list of the output files'))
    if not isinstance(data.get("generations", []), list):
        told = '"generations" must be a list of the generations paid for (or left out)'
        found.append((("generations",), told))
    return found, True


# --- outputs -----------------------------------------------------------------------------------


def outputs_as_written(chunk: list[Any]) -> list[str] | None:
    """The paths of these outputs when every one is as backdrop writes it (repeated paths are
    the caller's to find), else None."""
    if not _all(chunk, dict):
        return None
    paths = [item.get("path") for item in chunk]
    jobs = [item.get("job") for item in chunk]
    digests = [item.get("sha256") for item in chunk]
    if not (_all(paths, str) and _all(jobs, str) and _all(digests, str)):
        return None
    joined = "\n".join(paths)
    # Only when no path holds a line break itself is the match one path per line.
    if joined.count("\n") != len(paths) - 1 or _WRITTEN_PATHS.fullmatch(joined) is None:
        return None
    if not joined.isascii() and not all(map(_names_fit, paths)):
        return None
    if not _texts_fit(jobs, MAX_JOB_CHARS) or set(map(len, digests)) != {64}:
        return None
    if _HEX.fullmatch("".join(digests)) is None:
        return None
    requests = [item.get("request") for item in chunk]
    if not _all(requests, dict):
        return None
    prints = [value for request in requests for value in request.values()]
    if not _all(prints, str) or (prints and max(map(len, prints)) > MAX_FINGERPRINT_CHARS):
        return None
    return paths  # all str, checked above


def output_problems(number: int, item: Any, first: dict[str, int], say: bool) -> list[Problem]:
    """What is wrong with output `number`; its path goes into `first` (path -> number) when it
    is the first entry with that path."""
    where: NodePath = ("outputs", number)
    if not isinstance(item, dict):
        if not say:
            return SOME
        return [(where, f"output {number + 1} must be an object with path, job and sha256")]
    found: list[Problem] = []
    path = item.get("path")
    problem = _path_problem(path)
    if problem is not None:
        if not say:
            return SOME
        found.append(((*where, "path"), f"output {number + 1}: {problem}"))
    elif isinstance(path, str):
        if path in first:
            if not say:
                return SOME
            again = f"output {number + 1} lists {path} again (output {first[path] + 1} did)"
            found.append(((*where, "path"), again))
        first.setdefault(path, number)
    if not _job_ok(item.get("job")):
        if not say:
            return SOME
        found.append(((*where, "job"), f'output {number + 1}: "job" must be a job key (text)'))
    digest = item.get("sha256")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        if not say:
            return SOME
        told = f'output {number + 1}: "sha256" must be 64 hexadecimal digits (a-f, 0-9)'
        found.append(((*where, "sha256"), told))
    request = item.get("request")
    if not (
        isinstance(request, dict)
        and all(
            isinstance(value, str) and len(value) <= MAX_FINGERPRINT_CHARS
            for value in request.values()
        )
    ):
        if not say:
            return SOME
        told = f'output {number + 1}: "request" must map each field to a short fingerprint'
        found.append(((*where, "request"), told))
    return found


def path_as_written(path: str) -> bool:
    """The quick check of one path (as outputs_as_written makes it of many)."""
    return _WRITTEN_PATH.fullmatch(path) is not None and (path.isascii() or _names_fit(path))


def _path_problem(path: Any) -> str | None:
    if not isinstance(path, str):
        return '"path" must be the output\'s path in this folder (text)'
    # A committed lock must not make verify or a run read elsewhere.
    return stored_path_problem(path, STATE_DIR)


def _job_ok(job: Any) -> bool:
    return isinstance(job, str) and 0 < len(job) <= MAX_JOB_CHARS and _text_ok(job)


# --- generations -------------------------------------------------------------------------------


def generation_key(item: dict[str, Any]) -> tuple[str, str]:
    """(id, job) of a checked generation entry: one that got no answer (`"maybe": true`) has
    its id under MAYBE_PREFIX, however the entry writes it."""
    ident, job = item["id"], item["job"]
    if item.get("maybe") is True and not ident.startswith(MAYBE_PREFIX):
        ident = MAYBE_PREFIX + ident
    return ident, job


def generations_as_written(chunk: list[Any]) -> list[tuple[str, str]] | None:
    """The keys (generation_key) of these generations when every one is as backdrop writes it
    (repeated keys are the caller's to find), else None."""
    if not _all(chunk, dict):
        return None
    ids = [item.get("id") for item in chunk]
    jobs = [item.get("job") for item in chunk]
    numbers = [item.get("n") for item in chunk]
    qualities = [item.get("quality") for item in chunk]
    sizes = [item.get("size") for item in chunk]
    if not (_all(ids, str) and _all(jobs, str) and _all(numbers, int)):
        return None  # type(True) is bool, not int: n: true is refused here
    if not (_all(qualities, str) and _all(sizes, str)):
        return None
    if not (set(qualities) <= _QUALITIES and set(sizes) <= _SIZES):
        return None
    if min(numbers) < N_RANGE[0] or max(numbers) > N_RANGE[1]:
        return None
    if not (_texts_fit(ids, MAX_ID_CHARS) and _texts_fit(jobs, MAX_JOB_CHARS)):
        return None
    runs = [run for item in chunk if (run := item.get("run")) is not None]
    if not _all(runs, str) or not _texts_fit(runs, MAX_ID_CHARS, least=0):
        return None
    if not _all([item["maybe"] for item in chunk if "maybe" in item], bool):
        return None
    return [generation_key(item) for item in chunk]


def generation_problems(
    number: int, item: Any, first: dict[tuple[str, str], int], say: bool
) -> list[Problem]:
    """What is wrong with generation `number`; its key goes into `first` (key -> number) when
    it is the first entry with that key."""
    where: NodePath = ("generations", number)
    label = f"generation {number + 1}"
    if not isinstance(item, dict):
        if not say:
            return SOME
        return [(where, f"{label} must be an object with id, job, n, quality and size")]
    found: list[Problem] = []

    def wrong(field: str, message: str) -> None:
        found.append(((*where, field), f"{label}: {message}"))

    ident = item.get("id")
    if not (isinstance(ident, str) and 0 < len(ident) <= MAX_ID_CHARS and _text_ok(ident)):
        if not say:
            return SOME
        wrong("id", f'"id" must be the generation\'s id (text of 1 to {MAX_ID_CHARS} characters)')
    if not _job_ok(item.get("job")):
        if not say:
            return SOME
        wrong("job", '"job" must be a job key (text)')
    run = item.get("run")
    if run is not None and not (
        isinstance(run, str) and len(run) <= MAX_ID_CHARS and _text_ok(run)
    ):
        if not say:
            return SOME
        wrong("run", '"run" must be the id of the run that sent it (text)')
    images = item.get("n")
    if type(images) is not int or not N_RANGE[0] <= images <= N_RANGE[1]:
        if not say:
            return SOME
        wrong("n", f'"n" must be the number of images asked for, {N_RANGE[0]} to {N_RANGE[1]}')
    for field, known in (("quality", QUALITIES), ("size", SIZES)):
        value = item.get(field)
        if not isinstance(value, str) or value not in known:
            if not say:
                return SOME
            wrong(field, f'"{field}" must be one of {", ".join(known)}')
    if "maybe" in item and not isinstance(item["maybe"], bool):
        if not say:
            return SOME
        wrong("maybe", '"maybe" must be true (a generation that got no answer) or false')
    if not found:
        key = generation_key(item)
        if key in first:
            if not say:
                return SOME
            wrong("id", f"lists generation {key[0]} of job {key[1]} again ({_of(first[key])} did)")
        first.setdefault(key, number)
    return found


def _of(number: int) -> str:
    return f"generation {number + 1}"


# --- shared ------------------------------------------------------------------------------------


def _all(items: list[Any], kind: type) -> bool:
    """Whether every item is exactly of `kind` (not a subclass: True is no int here)."""
    return set(map(type, items)) <= {kind}


def _texts_fit(texts: list[str], most: int, least: int = 1) -> bool:
    if not texts:
        return True
    if min(map(len, texts)) < least or max(map(len, texts)) > most:
        return False
    joined = "".join(texts)
    return joined.isascii() or _SURROGATE.search(joined) is None


def _text_ok(text: str) -> bool:
    """Text that can be written as UTF-8 (no lone surrogate)."""
    return text.isascii() or _SURROGATE.search(text) is None


def _names_fit(path: str) -> bool:
    return all(len(name.encode("utf-8")) <= MAX_NAME_BYTES for name in path.split("/"))
