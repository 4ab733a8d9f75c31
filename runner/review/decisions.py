"""review.yaml: the team's decisions on each job, beside backdrop.lock, meant to be committed.

The file is keyed by each job's output path without extension, relative to the output folder
(`fr-FR/MUG-01` for `fr-FR/MUG-01.png`, or for `fr-FR/MUG-01-1.png` ... when n > 1). An approval
or a rejection keeps the SHA-256 of each variant it was made on (`sha256:`): it holds for those
bytes only (runner/review/binding.py says whether it still does). It is read
through the project's one YAML loader and checked against schemas/review.schema.json, so a
hand-edit mistake is reported at file:line:col like a recipe's. It is written sorted, without
timestamps, atomically; `update_review` re-reads under a lock before applying one change, so two
review pages (or a review beside a run) never lose each other's decisions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

from runner.diagnostics import Diagnostic, RecipeError, StateError, display_path
from runner.exclusive import CannotLock, ExclusiveFile
from runner.fileio import fsync_dir, write_atomic
from runner.recipe.loader import MAX_DATA_BYTES, LoadedDocument, load_yaml_file
from runner.recipe.schema_check import explain_schema_errors
from runner.review.decision_model import (
    MAX_HISTORY,
    STATUSES,
    Decision,
    EarlierTake,
    Review,
    Status,
)
from runner.review.render import REVIEW_FORMAT, render_review

REVIEW_NAME = "review.yaml"
GUARD_NAME = ".backdrop/review.lock"  # the review guard: one writer of review.yaml at a time
GUARD_WAIT_S = 10.0  # a write holds the lock for milliseconds; waiting longer means a hang


class ReviewFileError(RecipeError):
    """review.yaml has mistakes; each is a Diagnostic with file:line:col."""


# --- reading ---------------------------------------------------------------------------------


def load_review(output_dir: Path) -> Review:
    """The decisions in output_dir/review.yaml; none when the file is missing or empty."""
    path = Path(output_dir) / REVIEW_NAME
    try:
        info = path.stat()
    except FileNotFoundError:
        return Review()
    except OSError:
        info = None  # let the loader word the problem
    if info is not None and info.st_size == 0:
        return Review()
    if info is not None and info.st_size <= MAX_DATA_BYTES:
        known = _LAST_SEEN.get(path)
        if known is not None:
            return known
    try:
        doc = load_yaml_file(path, display_path(path), max_bytes=MAX_DATA_BYTES)
    except RecipeError as error:
        raise ReviewFileError(error.diagnostics()) from None
    problems = _problems(doc)
    if problems:
        raise ReviewFileError(problems)
    review = _build(doc.data)
    _LAST_SEEN.put(path, doc.source.text.encode("utf-8"), review)
    return review


class _SeenFiles:
    """The review last read or written per file, with the file's text then.

    A click on a review of 5,000 decisions re-reads the file (another page or a run may have
    written it) but, when the text is what this process last read or wrote, skips parsing it all
    again (0.3 s). Comparing the bytes, not the file's times, is exact.
    """

    def __init__(self) -> None:
        self.seen: dict[str, tuple[bytes, Review]] = {}

    def get(self, path: Path) -> Review | None:
        known = self.seen.get(str(path.absolute()))
        if known is None:
            return None
        try:
            return known[1] if path.read_bytes() == known[0] else None
        except OSError:
            return None

    def put(self, path: Path, text: bytes, review: Review) -> None:
        self.seen[str(path.absolute())] = (text, review)


_LAST_SEEN = _SeenFiles()


@cache
def review_schema() -> dict[str, Any]:
    text = (resources.files("runner") / "schemas" / "review.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    return Draft202012Validator(review_schema())


def _problems(doc: LoadedDocument) -> list[Diagnostic]:
    data, source = doc.data, doc.source
    if not isinstance(data, dict):
        return [
            Diagnostic(
                "review.yaml must be a mapping with 'version: 1' and 'jobs:'",
                span=source.span(()),
                file=source.file,
                hint="restore it from git, or delete it to start the review again",
            )
        ]
    found: list[Diagnostic] = []
    version = data.get("version", REVIEW_FORMAT)
    if isinstance(version, bool) or version != REVIEW_FORMAT:
        found.append(
            Diagnostic(
                f"this review.yaml is format {version!r}; this backdrop reads format "
                f"{REVIEW_FORMAT}",
                path="version",
                span=source.span(("version",)),
                hint=f"write 'version: {REVIEW_FORMAT}', or update backdrop",
            )
        )
    if found or not plainly_valid(data):
        # Only a file with a mistake pays for jsonschema: it took 1.2 s for 5,000 decisions.
        errors = [
            e for e in _validator().iter_errors(data) if tuple(e.absolute_path) != ("version",)
        ]
        found.extend(explain_schema_errors(errors, source, review_schema()))
    jobs = data.get("jobs")
    if isinstance(jobs, dict):
        for key, entry in jobs.items():
            found.extend(_key_problems(key, doc))
            if isinstance(entry, dict):
                found.extend(_history_problems(key, entry, doc))
    return sorted(found, key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))


def plainly_valid(data: dict[str, Any]) -> bool:
    """A quick check that never passes what schemas/review.schema.json refuses (it may refuse
    more: then the schema decides, and words the problems)."""
    version = data.get("version")
    if not set(data) <= {"version", "jobs"} or type(version) is not int or version != 1:
        return False
    jobs = data.get("jobs", {})
    if not isinstance(jobs, dict):
        return False
    for key, entry in jobs.items():
        if not 1 <= len(key) <= 1024 or not _plain_entry(entry, _DECISION_FIELDS, "status"):
            return False
        history = entry.get("history", [])
        if not isinstance(history, list) or len(history) > MAX_HISTORY:
            return False
        if not all(_plain_entry(item, _EARLIER_FIELDS, "take", "status") for item in history):
            return False
        if not _plain_hashes(entry.get("sha256", ["0" * 64])):
            return False
    return True


_DECISION_FIELDS = frozenset({"status", "pick", "note", "take", "history", "sha256"})
_EARLIER_FIELDS = frozenset({"take", "status", "pick", "note", "reason"})
_HEX = frozenset("0123456789abcdefABCDEF")
MAX_VARIANTS = 10  # as the API's n, and the schema's sha256 list


def _plain_hashes(hashes: Any) -> bool:
    if not isinstance(hashes, list) or not 1 <= len(hashes) <= MAX_VARIANTS:
        return False
    return all(isinstance(h, str) and len(h) == 64 and set(h) <= _HEX for h in hashes)


def _plain_entry(entry: Any, fields: frozenset[str], *required: str) -> bool:
    if not isinstance(entry, dict) or not set(entry) <= fields:
        return False
    if not all(name in entry for name in required):
        return False
    if "status" in entry and entry["status"] not in STATUSES:
        return False
    for name, high in (("pick", 10), ("take", 1000)):
        value = entry.get(name, 1)
        if type(value) is not int or not 1 <= value <= high:
            return False
    note, reason = entry.get("note", ""), entry.get("reason", "")
    return (
        isinstance(note, str)
        and len(note) <= 2000
        and isinstance(reason, str)
        and len(reason) <= 2000
    )


def _key_problems(key: str, doc: LoadedDocument) -> list[Diagnostic]:
    parts = key.split("/")
    if "\\" not in key and not {"", ".", ".."} & set(parts):
        return []
    return [
        Diagnostic(
            f"'{key}' is not an output path inside this folder",
            path="jobs",
            span=doc.source.span(("jobs", key), key=True),
            hint="use the output path without extension, such as fr-FR/MUG-01",
        )
    ]


def _history_problems(key: str, entry: dict[str, Any], doc: LoadedDocument) -> list[Diagnostic]:
    take = entry.get("take", 1)
    history = entry.get("history")
    if not isinstance(take, int) or not isinstance(history, list):
        return []
    earlier = [item.get("take") for item in history if isinstance(item, dict)]
    numbers = [number for number in earlier if isinstance(number, int)]
    # A take may have several decisions in turn: each replaced one ends with a `reason`.
    if numbers == sorted(numbers) and all(number <= take for number in numbers):
        return []
    return [
        Diagnostic(
            f"the history of '{key}' must list earlier decisions (take {take} or before), "
            "oldest first",
            path=f"jobs.{key}.history",
            span=doc.source.span(("jobs", key, "history")),
        )
    ]


def _build(data: dict[str, Any]) -> Review:
    jobs = data.get("jobs") or {}
    return Review({key: _decision(entry) for key, entry in sorted(jobs.items())})


def _decision(entry: dict[str, Any]) -> Decision:
    history = tuple(
        EarlierTake(
            int(item["take"]),
            cast(Status, item["status"]),
            _whole(item.get("pick")),
            item.get("note") or None,
            item.get("reason") or None,
        )
        for item in entry.get("history", ())
    )
    return Decision(
        status=cast(Status, entry["status"]),
        pick=_whole(entry.get("pick")),
        note=entry.get("note") or None,
        take=int(entry.get("take", 1)),
        history=history,
        sha256=tuple(str(h).lower() for h in entry.get("sha256", ())),
    )


def _whole(value: Any) -> int | None:
    return None if value is None else int(value)  # the schema's "integer" takes 2.0 too


# --- writing ---------------------------------------------------------------------------------


def save_review(output_dir: Path, review: Review) -> bool:
    """Write review.yaml atomically; returns False (writing nothing) when it already says this.

    This replaces the whole file: to change one decision beside other writers, use
    update_review, which re-reads under the lock first.
    """
    with review_guard(output_dir):
        return _write(Path(output_dir), review)


def update_review(output_dir: Path, change: Callable[[Review], Review]) -> Review:
    """Re-read review.yaml under the lock, apply `change`, write the result; returns it."""
    with review_guard(output_dir):
        review = change(load_review(output_dir))
        _write(Path(output_dir), review)
        return review


def set_decision(output_dir: Path, key: str, change: Callable[[Decision], Decision]) -> Decision:
    """Apply one change to one job's decision, merged with whatever other writers saved."""
    review = update_review(output_dir, lambda r: r.with_decision(key, change(r.decision(key))))
    return review.decision(key)


def with_status(
    decision: Decision, status: Status, note: str | None = None, images: Sequence[str] = ()
) -> Decision:
    """The decision with a new status, made on `images` (each variant's SHA-256). A note is set
    with a rejection and cleared otherwise; back to pending, it is bound to nothing."""
    return replace(
        decision,
        status=status,
        note=(note or None) if status == "rejected" else None,
        sha256=tuple(images) if status != "pending" else (),
    )


def _write(output_dir: Path, review: Review) -> bool:
    path = output_dir / REVIEW_NAME
    data = render_review(review).encode("utf-8")
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return False
    try:
        write_atomic(path, data)
        _LAST_SEEN.put(path, data, review)
        fsync_dir(output_dir)
    except OSError as exc:
        raise StateError(
            f"cannot write {display_path(path)}: {exc.strerror or exc}",
            "check that the output folder is writable and the disk is not full",
        ) from None
    return True


@contextlib.contextmanager
def review_guard(output_dir: Path) -> Iterator[None]:
    """Hold the review guard for one write (runner/exclusive.py's lock: the OS drops it if the
    process dies)."""
    path = Path(output_dir) / GUARD_NAME
    lock = ExclusiveFile(path)
    try:
        taken = lock.try_acquire(wait=GUARD_WAIT_S)
    except CannotLock as exc:
        raise StateError(
            f"cannot lock {display_path(path)}: {exc.strerror or exc}",
            "put the output folder on a local disk",
        ) from None
    except OSError as exc:
        raise StateError(
            f"cannot create {display_path(path)}: {exc.strerror or exc}",
            "check that the output folder is writable",
        ) from None
    if not taken:
        raise StateError(
            f"another backdrop process has been writing {REVIEW_NAME} in "
            f"{display_path(Path(output_dir))} for {GUARD_WAIT_S:.0f} seconds",
            "check for a stuck backdrop process and stop it, then try again",
        )
    try:
        yield
    finally:
        lock.release()
