"""What an output folder remembers, read-only, for `plan --diff`.

The state (.backdrop/state.db) knows every job's request and progress. A fresh checkout has no
state (it is kept out of git) but may have the committed backdrop.lock, which knows the done
jobs' keys, files and (format 2) their request fields' fingerprints. Nothing here creates
.backdrop/ or takes the run lock: a diff must be safe beside a running `backdrop run`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from runner.diagnostics import StateError
from runner.execute.files import files_intact
from runner.execute.lock import STATE_DIR
from runner.execute.records import FileRecord
from runner.execute.state import STATE_FILE, StateStore
from runner.execute.state_schema import FRESH_START, check_version, connect_read_only, file_record
from runner.plan.diff import NOTHING, Previous, PreviousJob, Progress

if TYPE_CHECKING:
    from runner.report.manifest import LockEntry


def read_previous(output_dir: Path) -> Previous:
    """The folder's memory: from its state, else from backdrop.lock, else nothing."""
    state = output_dir / STATE_DIR / STATE_FILE
    if StateStore.has_recorded_run(output_dir):  # else the run would adopt the lock (adopt.py)
        return _from_state(output_dir, state)
    from runner.report.manifest import LOCK_NAME, read_lock

    # A sharded run kept in git has one folder per shard (out/NAME/shard-1, ...), each with its
    # lock; their paths are relative to the shard folder, as the plan's are to the output folder.
    folders = [output_dir] if (output_dir / LOCK_NAME).is_file() else []
    folders = folders or sorted(p.parent for p in output_dir.glob(f"shard-*/{LOCK_NAME}"))
    if not folders:
        return NOTHING
    jobs: list[PreviousJob] = []
    for folder in folders:
        jobs.extend(_from_lock(folder, read_lock(folder).entries))
    return Previous("lock", {job.key: job for job in jobs}, tuple(jobs))


def _from_lock(folder: Path, entries: Iterable[LockEntry]) -> list[PreviousJob]:
    """The lock's jobs: done when every file is on disk with its recorded hash (as the run's
    adoption decides, runner/execute/adopt.py), else never paid for as far as anyone knows."""
    from runner.report.manifest import sha256_of

    by_job: dict[str, list[LockEntry]] = {}
    for entry in entries:
        by_job.setdefault(entry.job, []).append(entry)
    jobs = []
    for key, mine in by_job.items():
        paths = tuple(entry.path for entry in mine)
        intact = all(sha256_of(folder / entry.path) == entry.sha256 for entry in mine)
        jobs.append(
            PreviousJob(
                key,
                "done" if intact else "unpaid",
                paths,
                paths,
                fingerprints=mine[0].request,
            )
        )
    return jobs


def _from_state(output_dir: Path, path: Path) -> Previous:
    try:
        conn = connect_read_only(path)
    except sqlite3.Error as exc:
        raise StateError(f"the state file {path} cannot be read ({exc})", FRESH_START) from None
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        check_version(conn, path, create=False)
        run = conn.execute("SELECT job_keys FROM runs ORDER BY seq DESC LIMIT 1").fetchone()
        latest_keys: list[str] = json.loads(run[0]) if run else []
        files: dict[str, list[FileRecord]] = {}
        for row in conn.execute(
            "SELECT job_key, idx, path, sha256, width, height, bytes FROM files"
            " ORDER BY job_key, idx"
        ):
            files.setdefault(row[0], []).append(file_record(row))
        rows = conn.execute(
            "SELECT key, status, vars, prompt_object, image_kind, image_ref, outputs, result_keys"
            " FROM jobs"
        ).fetchall()
        written = _written(conn)
    except sqlite3.Error as exc:
        raise StateError(f"the state file {path} cannot be read ({exc})", FRESH_START) from None
    finally:
        conn.close()
    known: dict[str, PreviousJob] = {}
    for key, status, vars_, po, kind, ref, outputs_json, result_keys in rows:
        outputs = tuple(json.loads(outputs_json))
        records = files.get(key, [])
        known[key] = PreviousJob(
            key=key,
            progress=_progress(output_dir, status, outputs, records, bool(result_keys)),
            outputs=outputs,
            files=tuple(record.path for record in records),
            vars=json.loads(vars_),
            prompt_object=json.loads(po),
            image=f"{kind}:{ref}",
        )
    latest = tuple(known[key] for key in latest_keys if key in known)
    if written is not None:
        written = tuple((p, key) for p, key in written if (output_dir / p).is_file())
    return Previous("state", known, latest, written)


def _written(conn: sqlite3.Connection) -> tuple[tuple[str, str], ...] | None:
    """Every file runs wrote, kept after its job left the plan (None in older states)."""
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'written_files'"
    ).fetchone()
    if not has_table:
        return None
    rows = conn.execute("SELECT path, job_key FROM written_files ORDER BY path").fetchall()
    return tuple((str(path), str(key)) for path, key in rows)


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
