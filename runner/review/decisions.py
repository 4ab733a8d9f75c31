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
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

from runner.diagnostics import MAX_SHOWN, Diagnostic, RecipeError, StateError, display_path
from runner.exclusive import CannotLock, ExclusiveFile
from runner.fileio import fsync_dir, write_atomic
from runner.recipe.files import data_roots
from runner.recipe.loader import LoadedDocument, decode_yaml, load_yaml, read_yaml_bytes
from runner.recipe.model import SourceMap
from runner.recipe.schema_check import explain_schema_errors
from runner.records.state_folder import check_state_folder
from runner.review.decision_model import (
    MAX_HISTORY,
    STATUSES,
    Decision,
    EarlierTake,
    Review,
    Status,
)
from runner.review.render import REVIEW_FORMAT, render_review
from runner.review.written import Written, read_written

REVIEW_NAME = "review.yaml"
# In any layout, the YAML loader reads review.yaml with every position: about 40,000 short
# decisions, in a few seconds and a few hundred MB whatever the file holds (bench/README.md:
# 8 MB of mistakes took 10 s and 800 MB).
MAX_REVIEW_BYTES = 4 * 1024 * 1024
# In the layout backdrop writes (written.py), a line at a time: 10,000 jobs at n = 10, each
# with ten sha256 and two earlier decisions, are 10 MB, read in about a second; 16 MiB of the
# densest entries (one mistake each) in under 5 s of CPU and 500 MB (bench/README.md).
MAX_WRITTEN_REVIEW_BYTES = 16 * 1024 * 1024
REVIEW_LINK_HINT = (
    "replace the link with the file itself: review.yaml belongs in the output folder, beside "
    "backdrop.lock"
)
GUARD_NAME = ".backdrop/review.lock"  # the review guard: one writer of review.yaml at a time
GUARD_WAIT_S = 10.0  # a write holds the lock for milliseconds; waiting longer means a hang


class ReviewFileError(RecipeError):
    """review.yaml has mistakes; each is a Diagnostic with file:line:col."""


# --- reading ---------------------------------------------------------------------------------


def load_review(output_dir: Path) -> Review:
    """The decisions in output_dir/review.yaml; none when the file is missing or empty.

    A pull request may commit the file: it is read only when it lies, links followed, inside
    the output folder's project (files.data_roots), and only up to MAX_WRITTEN_REVIEW_BYTES in
    the layout backdrop writes (written.py), MAX_REVIEW_BYTES in any other.
    """
    path = Path(output_dir) / REVIEW_NAME
    try:
        info = path.stat()
    except FileNotFoundError:
        return Review()
    except OSError:
        info = None  # let the reader word the problem
    if info is not None and info.st_size == 0 and stat.S_ISREG(info.st_mode):
        return Review()
    shown = display_path(path)
    try:
        raw = read_yaml_bytes(
            path,
            shown,
            MAX_WRITTEN_REVIEW_BYTES,
            "a review.yaml holds one short entry per job; this one is not a review file",
            (data_roots(path.parent), REVIEW_LINK_HINT),
        )
        known = _LAST_SEEN.get(path, raw)
        if known is not None:
            return known
        text = decode_yaml(raw, shown)
        written = read_written(text)
        if written is None:
            if len(raw) > MAX_REVIEW_BYTES:
                raise _too_large_by_hand(shown, len(raw))
            data = _checked(load_yaml(text, shown))
        else:
            data = _checked_written(written, shown)
    except ReviewFileError:
        raise
    except RecipeError as error:
        raise ReviewFileError(error.diagnostics()) from None
    review = _build(data)
    _LAST_SEEN.put(path, raw, review)
    return review


def review_source(output_dir: Path, keys: Iterable[str]) -> SourceMap | None:
    """Where the entries of `keys` are in output_dir/review.yaml (read as load_review reads
    it: a large file in the written layout only their lines); None when it cannot be read."""
    path = Path(output_dir) / REVIEW_NAME
    shown = display_path(path)
    try:
        raw = read_yaml_bytes(
            path, shown, MAX_WRITTEN_REVIEW_BYTES, None, (data_roots(path.parent), "")
        )
        text = decode_yaml(raw, shown)
        written = read_written(text)
        if written is None:
            return None if len(raw) > MAX_REVIEW_BYTES else load_yaml(text, shown).source
        return load_yaml(_only(written, keys), shown).source
    except RecipeError:
        return None


def _only(written: Written, keys: Iterable[str]) -> str:
    """The text with only the header's and these entries' lines (the others blank), so that
    a position in it is the same line and column as in the file."""
    kept = set(written.header)
    for key in keys:
        for start, end in written.entries.get(key, ()):
            kept.update(range(start, end))
    return "\n".join(line if number in kept else "" for number, line in enumerate(written.lines))


def _checked(doc: LoadedDocument) -> dict[str, Any]:
    problems, unexamined = _problems(doc)
    if problems or unexamined:
        raise ReviewFileError(problems, unexamined=unexamined)
    data: dict[str, Any] = doc.data
    return data


def _checked_written(written: Written, shown: str) -> dict[str, Any]:
    """The document read in the written layout, when nothing in it is wrong; else the mistakes
    of its first MAX_SHOWN wrong entries, worded and placed by the YAML path on a copy of the
    text holding only their lines (and counted for the others)."""
    data = written.data
    jobs = data.get("jobs", {})
    version = data.get("version")
    refused = [
        key for key, entry in jobs.items() if key in written.repeated or not _entry_fine(key, entry)
    ]
    if not refused and type(version) is int and version == REVIEW_FORMAT:
        return data
    problems, _ = _problems(load_yaml(_only(written, refused[:MAX_SHOWN]), shown))
    raise ReviewFileError(problems, unexamined=max(len(refused) - MAX_SHOWN, 0))


def _too_large_by_hand(shown: str, size: int) -> RecipeError:
    megabytes = MAX_REVIEW_BYTES // 1024 // 1024
    return RecipeError(
        [
            Diagnostic(
                f"the file is {size / 1024 / 1024:,.1f} MB and not in the layout backdrop writes:"
                f" past {megabytes} MB, review.yaml is read only in that layout",
                file=shown,
                hint="restore the layout (one field a line, indented by two spaces a level, as"
                " `backdrop review` saves it), or restore the file from git and make the"
                " change on the review page",
            )
        ]
    )


class _SeenFiles:
    """The review last read or written per file, with the file's text then.

    A click on a review of 5,000 decisions re-reads the file (another page or a run may have
    written it) but, when the text is what this process last read or wrote, skips parsing it all
    again (0.3 s). Comparing the bytes, not the file's times, is exact.
    """

    def __init__(self) -> None:
        self.seen: dict[str, tuple[bytes, Review]] = {}

    def get(self, path: Path, text: bytes) -> Review | None:
        known = self.seen.get(str(path.absolute()))
        return known[1] if known is not None and text == known[0] else None

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


def _problems(doc: LoadedDocument) -> tuple[list[Diagnostic], int]:
    """The file's problems, and how many more entries have some that were not worded.

    Only the first MAX_SHOWN entries the quick check refuses are explained (jsonschema took
    0.35 ms per mistake): a file a pull request filled with mistakes is told in a second.
    """
    data, source = doc.data, doc.source
    if not isinstance(data, dict):
        return [
            Diagnostic(
                "review.yaml must be a mapping with 'version: 1' and 'jobs:'",
                span=source.span(()),
                file=source.file,
                hint="restore it from git, or delete it to start the review again",
            )
        ], 0
    jobs = data.get("jobs")
    unexamined = 0
    if isinstance(jobs, dict):
        refused = [key for key, entry in jobs.items() if not _entry_fine(key, entry)]
        unexamined = max(len(refused) - MAX_SHOWN, 0)
        if unexamined or len(refused) < len(jobs):
            data = {**data, "jobs": {key: jobs[key] for key in refused[:MAX_SHOWN]}}
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
    found.sort(key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))
    return found, unexamined


def plainly_valid(data: dict[str, Any]) -> bool:
    """A quick check that never passes what schemas/review.schema.json refuses (it may refuse
    more: then the schema decides, and words the problems)."""
    version = data.get("version")
    if not set(data) <= {"version", "jobs"} or type(version) is not int or version != 1:
        return False
    jobs = data.get("jobs", {})
    if not isinstance(jobs, dict):
        return False
    return all(_entry_plain(key, entry) for key, entry in jobs.items())


_DECISION_FIELDS = frozenset({"status", "pick", "note", "take", "history", "sha256"})
_EARLIER_FIELDS = frozenset({"take", "status", "pick", "note", "reason"})
_SHA256 = re.compile("[0-9a-fA-F]{64}")  # a sha256 item as the schema takes it (fullmatch)
MAX_VARIANTS = 10  # as the API's n, and the schema's sha256 list


def _plain_hashes(hashes: Any) -> bool:
    if not isinstance(hashes, list) or not 1 <= len(hashes) <= MAX_VARIANTS:
        return False
    sha256 = _SHA256.fullmatch
    return all(isinstance(h, str) and sha256(h) is not None for h in hashes)


def _entry_plain(key: str, entry: Any) -> bool:
    """Whether one job's entry has the shape the schema asks for."""
    if not 1 <= len(key) <= 1024 or not _plain_entry(entry, _DECISION_FIELDS, "status"):
        return False
    history = entry.get("history", [])
    if not isinstance(history, list) or len(history) > MAX_HISTORY:
        return False
    if not all(_plain_entry(item, _EARLIER_FIELDS, "take", "status") for item in history):
        return False
    return _plain_hashes(entry.get("sha256", ["0" * 64]))


def _entry_fine(key: str, entry: Any) -> bool:
    """Whether one job's entry has no problem at all (as exact as the schema and the checks
    below, so that an entry refused here always has one)."""
    return (
        _entry_plain(key, entry)
        and not _bad_key(key)
        and _history_in_order(entry.get("take", 1), entry.get("history", []))
    )


def _plain_entry(entry: Any, fields: frozenset[str], *required: str) -> bool:
    if not isinstance(entry, dict) or not set(entry) <= fields:
        return False
    if not all(name in entry for name in required):
        return False
    if "status" in entry and entry["status"] not in STATUSES:
        return False
    for name, high in (("pick", 10), ("take", 1000)):
        value = entry.get(name, 1)
        if type(value) is float and value.is_integer():
            value = int(value)  # the schema's "integer" takes 2.0 too
        if type(value) is not int or not 1 <= value <= high:
            return False
    note, reason = entry.get("note", ""), entry.get("reason", "")
    return (
        isinstance(note, str)
        and len(note) <= 2000
        and isinstance(reason, str)
        and len(reason) <= 2000
    )


def _bad_key(key: str) -> bool:
    return "\\" in key or bool({"", ".", ".."} & set(key.split("/")))


def _key_problems(key: str, doc: LoadedDocument) -> list[Diagnostic]:
    if not _bad_key(key):
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
    if _history_in_order(entry.get("take", 1), entry.get("history")):
        return []
    take = entry.get("take", 1)
    return [
        Diagnostic(
            f"the history of '{key}' must list earlier decisions (take {take} or before), "
            "oldest first",
            path=f"jobs.{key}.history",
            span=doc.source.span(("jobs", key, "history")),
        )
    ]


def _history_in_order(take: Any, history: Any) -> bool:
    if not isinstance(take, int) or not isinstance(history, list):
        return True  # the schema says what is wrong
    earlier = [item.get("take") for item in history if isinstance(item, dict)]
    numbers = [number for number in earlier if isinstance(number, int)]
    # A take may have several decisions in turn: each replaced one ends with a `reason`.
    return numbers == sorted(numbers) and all(number <= take for number in numbers)


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
    check_state_folder(Path(output_dir))  # the guard file is written: never through a link
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
