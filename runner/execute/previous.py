"""What an output folder remembers, read-only, for `plan --diff`.

The state (.backdrop/state.db) knows every job's request and progress. A fresh checkout has no
state (it is kept out of git) but may have the committed backdrop.lock, which knows the done
jobs' keys, files and (format 2) their request fields' fingerprints. Nothing here creates
.backdrop/ or takes the run lock: a diff must be safe beside a running `backdrop run`.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from runner.execute.adopt import LockFiles, lock_adoption, lock_folders, state_adoption
from runner.execute.result_files import files_intact
from runner.plan.diff import NOTHING, Previous, PreviousJob, Progress
from runner.plan.plan_model import Plan
from runner.records.lockfile import LockEntry, LockFileProblem
from runner.records.run_records import FileRecord
from runner.records.state import STATE_FILE, StateStore
from runner.records.state_errors import SQLITE_ERRORS, open_error
from runner.records.state_folder import STATE_DIR
from runner.records.state_schema import (
    STORED_STATUSES,
    check_version,
    connect_read_only,
    files_by_job,
)
from runner.records.state_values import StateValues


def read_previous(output_dir: Path, plan: Plan, files: LockFiles | None = None) -> Previous:
    """The folder's memory: from its state, else from its backdrop.lock files, else nothing.

    From locks, a job is done exactly when the run would adopt it (lock_adoption, adopt.py),
    from whichever lock_folders(output_dir) holds it: the output folder's own lock, and those
    of the shard folders `run --shard K/N` writes (out/NAME/shard-1, ...). `files`: the
    LockFiles of this command, when it reads the same files again (plan's budget preview).
    """
    state = output_dir / STATE_DIR / STATE_FILE
    if StateStore.has_recorded_run(output_dir):  # else the run would adopt the locks (adopt.py)
        return _from_state(output_dir, state, plan)
    folders = lock_folders(output_dir)
    if not folders:
        return NOTHING
    # strict: the folder's own damaged lock is said (LockFileError), as the run refuses it.
    lock_files = files or LockFiles(output_dir)  # each file read once, for both passes
    done = lock_adoption(output_dir, plan, strict=True, files=lock_files).done
    planned = {job.key for job in plan.jobs}
    jobs: list[PreviousJob] = []
    for folder in folders:
        try:
            entries = lock_files.lock(folder).entries
        except LockFileProblem:
            if os.path.abspath(folder) == os.path.abspath(output_dir):
                raise  # the folder's own lock (lock_adoption said it already)
            continue  # another folder's: the run ignores it too (adopt.py)
        jobs.extend(_from_lock(output_dir, folder, entries, done, planned, lock_files))
    known: dict[str, PreviousJob] = {}
    for job in jobs:  # the output folder's own lock first; a done record wins
        if job.key not in known or (job.progress == "done" and known[job.key].progress != "done"):
            known[job.key] = job
    return Previous("lock", known, tuple(jobs))


def _from_lock(
    output_dir: Path,
    folder: Path,
    entries: Iterable[LockEntry],
    done: Mapping[str, tuple[FileRecord, ...]],
    planned: set[str],
    lock_files: LockFiles,
) -> list[PreviousJob]:
    """The lock's jobs: done when the run adopts them, else never paid for as far as anyone
    knows. Their files (for stale ones) are named from output_dir, when they are inside it."""
    by_job: dict[str, list[LockEntry]] = {}
    for entry in entries:
        by_job.setdefault(entry.job, []).append(entry)
    where = PurePosixPath(os.path.relpath(folder, output_dir)).as_posix()  # lock paths: plain
    inside = where == "." or not where.startswith("..")
    jobs = []
    for key, mine in by_job.items():
        paths = tuple(entry.path for entry in mine)
        adopted = done.get(key)
        if key in planned:
            taken = adopted is not None and {record.path for record in adopted} == set(paths)
        else:  # a job the plan replaced: its request was paid for if its files are still there
            taken = all(
                lock_files.sha256(os.path.join(folder, entry.path)) == entry.sha256
                for entry in mine
            )
        files = (
            (paths if where == "." else tuple(f"{where}/{path}" for path in paths))
            if inside
            else ()
        )
        jobs.append(
            PreviousJob(
                key,
                "done" if taken else "unpaid",
                paths,
                files,
                fingerprints=mine[0].request,
            )
        )
    return jobs


def _from_state(output_dir: Path, path: Path, plan: Plan) -> Previous:
    """The state's memory, and what the run will adopt from locks it does not know."""
    try:
        conn = connect_read_only(path)
    except SQLITE_ERRORS as exc:
        raise open_error(path, exc) from None
    values = StateValues(path)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        check_version(conn, path, create=False)
        run = conn.execute("SELECT seq, job_keys FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
        latest_keys = values.text_list(run[1], ("runs", "job_keys", run[0])) if run else []
        files = files_by_job(
            conn.execute(
                "SELECT job_key, idx, path, sha256, width, height, bytes FROM files"
                " ORDER BY job_key, idx"
            ).fetchall(),
            values,
        )
        rows = conn.execute(
            "SELECT key, status, vars, prompt_object, image_kind, image_ref, outputs, result_keys,"
            " take FROM jobs"
        ).fetchall()
        written = _written(conn, values)
    except SQLITE_ERRORS as exc:
        raise open_error(path, exc) from None
    finally:
        conn.close()
    known: dict[str, PreviousJob] = {}
    done: dict[str, dict[str, str]] = {}
    for key, status, vars_, po, kind, ref, outputs_json, result_keys, job_take in rows:
        key = values.text(key, ("jobs", "key", None))
        status = values.choice(status, STORED_STATUSES, ("jobs", "status", key))
        outputs = tuple(values.output_paths(outputs_json, ("jobs", "outputs", key)))
        paid = bool(result_keys and values.text_list(result_keys, ("jobs", "result_keys", key)))
        records = files.get(key, [])
        known[key] = PreviousJob(
            key=key,
            progress=_progress(output_dir, status, outputs, records, paid),
            outputs=outputs,
            files=tuple(record.path for record in records),
            vars=values.json(vars_, dict, ("jobs", "vars", key)),
            prompt_object=values.prompt_object(po, ("jobs", "prompt_object", key)),
            image=f"{values.text(kind, ('jobs', 'image_kind', key))}:"
            f"{values.text(ref, ('jobs', 'image_ref', key))}",
            take=values.integer(job_take, ("jobs", "take", key), 1),
        )
        if status == "done":
            done[key] = {record.path: record.sha256 for record in records}
    shas = {p: sha for p, _, sha in written}
    adoption = state_adoption(output_dir, plan, done, shas)
    by_path = {p: key for p, key, _ in written}
    if adoption is not None:  # the same jobs the run adopts, with the same files
        outputs_of = {job.key: job.outputs for job in plan.jobs}
        for key, taken in adoption.done.items():
            paths = tuple(record.path for record in taken)
            old = known.get(key)
            known[key] = (
                PreviousJob(key, "done", outputs_of[key], paths)
                if old is None
                else dataclasses.replace(old, progress="done", files=paths)
            )
        by_path.update((record.path, key) for key, record in adoption.written)
    latest = tuple(known[key] for key in latest_keys if key in known)
    kept = tuple((p, key) for p, key in sorted(by_path.items()) if (output_dir / p).is_file())
    return Previous("state", known, latest, kept)


def _written(conn: sqlite3.Connection, values: StateValues) -> tuple[tuple[str, str, str], ...]:
    """Every file runs wrote, kept after its job left the plan."""
    rows = conn.execute("SELECT path, job_key, sha256 FROM written_files ORDER BY path")
    return tuple(
        (
            values.output_path(path, ("written_files", "path", None)),
            values.text(key, ("written_files", "job_key", path)),
            values.sha256(sha, ("written_files", "sha256", path)),
        )
        for path, key, sha in rows.fetchall()
    )


def _progress(
    output_dir: Path,
    status: str,
    outputs: tuple[str, ...],
    records: list[FileRecord],
    paid: bool,
) -> Progress:
    # The same decision `run` makes (runner/execute/preview.py): done and intact is skipped,
    # paid for is only downloaded, anything else is generated.
    if status == "done" and files_intact(output_dir, outputs, records):
        return "done"
    return "paid" if paid else "unpaid"
