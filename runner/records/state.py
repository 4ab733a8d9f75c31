"""The run state: SQLite at `<output_dir>/.backdrop/state.db`, the memory that makes runs resumable.

Durability, thought through (the benchmark pushes ~2,000 jobs, so bookkeeping must be cheap):

* The database is in WAL mode with `synchronous=NORMAL`. A committed transaction then survives
  the death of the process at any moment (kill -9 included): its frames are in the WAL file, in
  the OS page cache, and the next open replays them. Only a power loss or OS crash can lose the
  last NORMAL commits, and each one writes nothing without an fsync.
* The one thing that costs money is a generation, so `record_generation` commits with
  `synchronous=FULL`: the WAL is fsynced before it returns, which also makes every earlier commit
  durable. The caller must not start downloading before it returns.
* Everything else (plan rows, attempts, file records, done/failed marks) is reconstructible:
  a lost file record only means the file is fetched again from the recorded result keys, and
  `files.verify_existing` re-checks files against their hashes. So those commits skip the fsync.

Every public write is one transaction. Job statuses stored are pending, generated, done and
failed: what the folder holds, whichever run made it so (what a run did or left alone is that
run's own tally). A job keeps its result keys when it fails after generating, so a re-run
downloads them instead of paying again (`JobState.generated`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from runner import __version__
from runner.diagnostics import StateError
from runner.fileio import disk_full
from runner.records import state_spend
from runner.records.reserve import DiskReserve
from runner.records.run_records import (
    Adoption,
    FileRecord,
    GenerationRecord,
    RunHeader,
    RunSnapshot,
    UnansweredRequest,
)
from runner.records.state_errors import SQLITE_ERRORS
from runner.records.state_errors import io_error as _io_error
from runner.records.state_errors import open_error as _open_error
from runner.records.state_errors import room_retry as _room_retry
from runner.records.state_folder import STATE_DIR, check_state_folder
from runner.records.state_schema import (
    UPSERT_JOB,
    JobState,
    check_version,
    connect_read_only,
    file_record,
    files_by_job,
    job_state_of,
    no_run,
    prices_text,
    snapshot_of,
)
from runner.records.state_spend import StateSpend
from runner.records.state_values import StateValues

if TYPE_CHECKING:
    from runner.plan.plan_model import Plan

__all__ = ["STATE_FILE", "JobState", "StateStore"]

STATE_FILE = "state.db"


class StateStore:
    """The state of one output folder. Open with `StateStore.open(output_dir)`; not async."""

    def __init__(self, conn: sqlite3.Connection, path: Path, output_dir: Path) -> None:
        self._conn = conn
        self.path = path
        self.output_dir = output_dir
        self._lock = threading.Lock()  # so the run loop may also write from worker threads
        self.values = StateValues(path)  # every stored value read is checked there
        self._run_id: str | None = None
        self._job_costs: dict[str, float] = {}  # estimated USD per job key, from begin_run's plan
        self._run_cost = 0.0  # what the current run's generations cost, as recorded in `runs`
        self.reserve = DiskReserve(path.parent)  # room for the last writes when the disk fills

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, output_dir: Path) -> StateStore:
        """Open (creating folder and schema) the state of `output_dir`; StateError if unusable."""
        output_dir = Path(output_dir)
        path = output_dir / STATE_DIR / STATE_FILE
        check_state_folder(output_dir)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(
                f"cannot create {path.parent}: {exc.strerror or exc}",
                "check that the output folder is writable",
            ) from None
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            check_version(conn, path, create=True)
        except SQLITE_ERRORS as exc:
            if conn is not None:
                conn.close()
            raise _open_error(path, exc) from None
        except StateError:
            if conn is not None:
                conn.close()
            raise
        store = cls(conn, path, output_dir)
        store.reserve.make()
        return store

    @classmethod
    def open_read_only(cls, output_dir: Path) -> StateStore:
        """Open an existing state to read it only: no schema changes, no reserve, no files
        made (`plan` and the money guard, on a read-only disk too); for reads only."""
        output_dir = Path(output_dir)
        path = output_dir / STATE_DIR / STATE_FILE
        return cls(_connect_read_only(path), path, output_dir)

    @property
    def has_reserve(self) -> bool:
        return self.reserve.held

    def release_reserve(self) -> bool:
        """Free the room kept for the last writes; False when there was none left to free."""
        return self.reserve.release()

    @staticmethod
    def read_snapshot(output_dir: Path) -> RunSnapshot:
        """The latest run, read-only (for `backdrop report` and `--merge`)."""
        output_dir = Path(output_dir)
        path = output_dir / STATE_DIR / STATE_FILE
        if not path.is_file():
            raise no_run(output_dir)
        with _reading(path) as conn:
            return snapshot_of(conn, output_dir)

    @staticmethod
    def read_latest_files(output_dir: Path, outputs: Sequence[str]) -> tuple[FileRecord, ...]:
        """The files of the latest run's job with these outputs, as read_snapshot gives them,
        read-only and without reading the whole run (the review page asks at each click)."""
        output_dir = Path(output_dir)
        path = output_dir / STATE_DIR / STATE_FILE
        if not path.is_file():
            raise no_run(output_dir)
        with _reading(path) as conn:
            rows = conn.execute(
                "SELECT f.job_key, f.idx, f.path, f.sha256, f.width, f.height, f.bytes"
                " FROM jobs j JOIN files f ON f.job_key = j.key WHERE j.outputs = ?"
                " AND j.run_id = (SELECT run_id FROM runs ORDER BY seq DESC LIMIT 1)"
                " ORDER BY f.idx",
                (_dumps(list(outputs)),),
            ).fetchall()
            values = StateValues(path)
            return tuple(file_record(row, values) for row in rows)

    @staticmethod
    def read_run_header(output_dir: Path) -> RunHeader:
        """The latest run's recipe and the job keys it planned, read-only, without reading the
        jobs themselves (`backdrop status` reads them only when the recipe changed since)."""
        output_dir = Path(output_dir)
        path = output_dir / STATE_DIR / STATE_FILE
        if not path.is_file():
            raise no_run(output_dir)
        with _reading(path) as conn:
            run = conn.execute(
                "SELECT seq, recipe_name, recipe_path FROM runs ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            if run is None:
                raise no_run(output_dir)
            keys = conn.execute(
                "SELECT CAST(e.value AS TEXT) FROM runs r, json_each(r.job_keys) e WHERE r.seq = ?",
                (run[0],),
            ).fetchall()
        return RunHeader(str(run[1]), str(run[2]), frozenset(str(row[0]) for row in keys))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- runs --------------------------------------------------------------------------------

    @_room_retry
    def begin_run(self, plan: Plan, run_id: str, adoption: Adoption | None = None) -> None:
        """Record a run and its plan; jobs already known keep their status and results.

        `adoption`: what a committed backdrop.lock shows done (adopt.py), taken in with the run
        in the same durable transaction: never a run recorded without it, so the next run
        cannot mistake a fresh state for one that knows everything and pay again.
        """
        now = _now()
        self._job_costs = {
            job.key: job.prompt_object.n
            * plan.prices.price(job.prompt_object.quality, job.prompt_object.size)
            for job in plan.jobs
        }
        rows = [
            (
                job.key,
                job.index,
                job.label,
                _dumps(dict(job.vars)),
                job.image.kind,
                job.image.ref,
                str(job.image.path) if job.image.path is not None else None,
                _dumps(job.prompt_object.to_json()),
                _dumps(list(job.outputs)),
                run_id,
                job.take,
            )
            for job in plan.jobs
        ]
        with self._write(durable=adoption is not None) as cur:
            if cur.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
                raise StateError(f"run {run_id} is already recorded in {self.path}")
            cur.execute(
                "INSERT INTO runs (run_id, recipe_name, recipe_path, started_at, tool_version,"
                " axes, report_rows, report_columns, estimated_cost_usd, job_keys, prices)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    plan.recipe_name,
                    str(plan.recipe_path),
                    now,
                    __version__,
                    _dumps(list(plan.axes)),
                    plan.report.rows,
                    plan.report.columns,
                    0.0,  # what the run has generated so far: record_generation adds to it
                    _dumps([job.key for job in plan.jobs]),
                    prices_text(plan.prices),  # the reports price the folder's generations
                ),
            )
            cur.executemany(UPSERT_JOB, rows)
            if adoption is not None:
                _adopt(cur, adoption, now)
        self._run_id = run_id
        self._run_cost = 0.0

    @_room_retry
    def finish_run(self, run_id: str) -> None:
        """Stamp the run finished, durably (it also makes every earlier commit durable)."""
        with self._write(durable=True) as cur:
            cur.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (_now(), run_id))

    # -- assets ------------------------------------------------------------------------------

    def asset_key(self, sha256: str) -> str | None:
        """The asset key of an image uploaded before, by content hash."""
        rows = self._read("SELECT asset_key FROM assets WHERE sha256 = ?", (sha256,))
        row = rows[0] if rows else None
        return None if row is None else self.values.text(row[0], ("assets", "asset_key", sha256))

    @_room_retry
    def record_asset(self, sha256: str, key: str) -> None:
        with self._write() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO assets (sha256, asset_key, uploaded_at) VALUES (?, ?, ?)",
                (sha256, key, _now()),
            )

    @_room_retry
    def forget_asset(self, sha256: str, key: str) -> None:
        """The API no longer knows this upload: forget it (only if it is still the one we hold)."""
        with self._write() as cur:
            cur.execute("DELETE FROM assets WHERE sha256 = ? AND asset_key = ?", (sha256, key))

    # -- jobs --------------------------------------------------------------------------------

    def job_states(self, keys: Sequence[str] | None = None) -> dict[str, JobState]:
        """Many jobs' states in one read (all known jobs when `keys` is None)."""
        with self._lock:
            try:
                rows = self._conn.execute(
                    "SELECT key, status, attempts, record_uuid, result_keys, temporary_url, error"
                    " FROM jobs"
                ).fetchall()
                file_rows = self._conn.execute(
                    "SELECT job_key, idx, path, sha256, width, height, bytes FROM files"
                    " ORDER BY job_key, idx"
                ).fetchall()
            except SQLITE_ERRORS as exc:
                raise _io_error(self.path, exc) from None
        files = files_by_job(file_rows, self.values)
        states: dict[str, JobState] = {}
        for row in rows:
            state = job_state_of(row, files.get(row[0], []), self.values)
            states[state.key] = state
        if keys is None:
            return states
        return {key: states[key] for key in keys if key in states}

    @_room_retry
    def mark_sent(self, key: str) -> None:
        """A generation request is about to be sent: count it and remember it, fsynced, so that
        a run killed before the answer arrives leaves a trace of what may have been charged."""
        if self.reserve.released:  # the room left is for the answers already on their way
            raise disk_full(self.output_dir)
        now = _now()
        with self._write(durable=True) as cur:
            cur.execute(
                "UPDATE jobs SET attempts = attempts + 1, started_at = ?, run_id = ? WHERE key = ?",
                (now, self._run_id, key),
            )
            if cur.rowcount != 1:
                raise StateError(f"job {key} is not in the recorded plan")
            cur.execute(
                "INSERT OR REPLACE INTO sent_requests (job_key, run_id, sent_at) VALUES (?, ?, ?)",
                (key, self._run_id, now),
            )

    async def mark_sent_async(self, key: str) -> None:
        """mark_sent in a worker thread (its fsync must not stall the event loop)."""
        import asyncio

        await asyncio.to_thread(self.mark_sent, key)

    # -- spending (state_spend.py) -----------------------------------------------------------

    @_room_retry
    def record_unanswered(self, key: str) -> str | None:
        """The job's generation got no answer (a 5xx, a dropped connection, a timeout): keep it,
        fsynced, as maybe charged, for the budget and the summary. Returns when it was sent."""
        with self._write(durable=True) as cur:
            return state_spend.move_unanswered(cur, key)

    async def record_unanswered_async(self, key: str) -> str | None:
        import asyncio

        return await asyncio.to_thread(self.record_unanswered, key)

    @_room_retry
    def take_in_generations(self, records: Sequence[GenerationRecord]) -> None:
        """Generations the folder's backdrop.lock records and this state does not (a lock pulled
        from git, a fresh clone): kept, so that the lock rebuilt from the state keeps them."""
        if records:
            with self._write() as cur:
                state_spend.take_in(cur, records)

    @staticmethod
    def read_spend(output_dir: Path) -> StateSpend | None:
        """What the folder's state says was spent (read-only; None without a state file)."""
        path = Path(output_dir) / STATE_DIR / STATE_FILE
        if not path.is_file():
            return None
        with _reading(path) as conn:
            return state_spend.read_state_spend(conn, StateValues(path))

    @_room_retry
    def clear_sent(self, key: str) -> None:
        """The API answered without charging (it refused the request): nothing is unknown."""
        with self._write() as cur:
            cur.execute("DELETE FROM sent_requests WHERE job_key = ?", (key,))

    def take_unanswered(self) -> tuple[UnansweredRequest, ...]:
        """Generations sent by earlier runs that never got an answer; forgotten once taken."""
        with self._write() as cur:
            rows = cur.execute(
                "SELECT s.job_key, j.label, j.vars, s.sent_at FROM sent_requests s"
                " JOIN jobs j ON j.key = s.job_key"
                " WHERE s.run_id IS NOT ? ORDER BY s.sent_at, j.idx",
                (self._run_id,),
            ).fetchall()
            # Maybe charged: the budget keeps counting them once they are forgotten here.
            cur.execute(
                "INSERT OR IGNORE INTO generations (record_uuid, job_key, prompt_object, run_id)"
                " SELECT 'unanswered:' || s.job_key || ':' || s.sent_at, s.job_key,"
                " j.prompt_object, s.run_id FROM sent_requests s JOIN jobs j ON j.key = s.job_key"
                " WHERE s.run_id IS NOT ?",
                (self._run_id,),
            )
            cur.execute("DELETE FROM sent_requests WHERE run_id IS NOT ?", (self._run_id,))
        values = self.values
        return tuple(
            UnansweredRequest(
                values.text(key, ("sent_requests", "job_key", None)),
                values.text(label, ("jobs", "label", key)),
                values.json(vars_, dict, ("jobs", "vars", key)),
                values.text(sent_at, ("sent_requests", "sent_at", key)),
            )
            for key, label, vars_, sent_at in rows
        )

    @staticmethod
    def has_recorded_run(output_dir: Path) -> bool:
        """Has any run been recorded in the folder's state? (Read-only. False without a state
        file, or one that others opened before any run: then backdrop.lock is the memory.)"""
        path = Path(output_dir) / STATE_DIR / STATE_FILE
        if not path.is_file():
            return False
        try:
            conn = connect_read_only(path, timeout=5.0)
        except SQLITE_ERRORS:
            return True  # unreadable: the callers' own opening says why
        try:
            conn.execute("PRAGMA busy_timeout = 10000")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if "runs" not in tables:  # a run that stopped before it made the schema (disk full)
                return False
            return conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is not None
        except SQLITE_ERRORS:
            return True
        finally:
            conn.close()

    @staticmethod
    def count_unanswered(output_dir: Path) -> int:
        """How many generations are sent and unanswered (read-only; 0 when unknown)."""
        path = Path(output_dir) / STATE_DIR / STATE_FILE
        try:
            conn = connect_read_only(path, timeout=5.0)
        except SQLITE_ERRORS:
            return 0
        try:
            row = conn.execute("SELECT COUNT(*) FROM sent_requests").fetchone()
            return int(row[0])  # counted by SQLite: always a number
        except SQLITE_ERRORS:
            return 0
        finally:
            conn.close()

    @_room_retry
    def record_generation(
        self,
        key: str,
        uuid: str,
        result_keys: Sequence[str],
        temporary_url: str | None,
        credits_left: int | None,
    ) -> None:
        """Record a paid generation, fsynced: it must be on disk before any download starts.

        Replaces an earlier generation of the same job (--force) and forgets its file records.
        """
        cost = 0.0
        with self._write(durable=True) as cur:
            cur.execute(
                "UPDATE jobs SET status = 'generated', record_uuid = ?, result_keys = ?,"
                " temporary_url = ?, credits_left = ?, error = NULL, run_id = ? WHERE key = ?",
                (uuid, _dumps(list(result_keys)), temporary_url, credits_left, self._run_id, key),
            )
            if cur.rowcount != 1:
                raise StateError(f"job {key} is not in the recorded plan")
            if result_keys:  # the budget counts every charge, even one --force replaces
                cur.execute(
                    "INSERT OR IGNORE INTO generations (record_uuid, job_key, prompt_object,"
                    " run_id) SELECT ?, key, prompt_object, run_id FROM jobs WHERE key = ?",
                    (uuid, key),
                )
                if cur.rowcount == 1:  # the run's cost counts each generation once
                    cost = self._job_costs.get(key, 0.0)
                    cur.execute(
                        "UPDATE runs SET estimated_cost_usd = estimated_cost_usd + ?"
                        " WHERE run_id = ?",
                        (cost, self._run_id),
                    )
            cur.execute("DELETE FROM files WHERE job_key = ?", (key,))
            cur.execute("DELETE FROM sent_requests WHERE job_key = ?", (key,))
        self._run_cost += cost  # committed: the same sum as the runs row now holds

    @property
    def run_cost_usd(self) -> float:
        """The estimated cost of what the current run has generated so far (list prices)."""
        return round(self._run_cost, 4)

    async def record_generation_async(
        self,
        key: str,
        uuid: str,
        result_keys: Sequence[str],
        temporary_url: str | None,
        credits_left: int | None,
    ) -> None:
        """record_generation in a worker thread, so its fsync does not stall the event loop."""
        import asyncio

        await asyncio.to_thread(
            self.record_generation, key, uuid, result_keys, temporary_url, credits_left
        )

    @_room_retry
    def record_file(self, key: str, index: int, file: FileRecord) -> None:
        """A result image written and verified at `file.path` (not fsynced: re-verifiable)."""
        with self._write() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO files (job_key, idx, path, sha256, width, height, bytes)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, index, file.path, file.sha256, file.width, file.height, file.bytes),
            )
            cur.execute(
                "INSERT OR REPLACE INTO written_files (path, sha256, bytes, job_key)"
                " VALUES (?, ?, ?, ?)",
                (file.path, file.sha256, file.bytes, key),
            )

    def written_file(self, path: str) -> tuple[str, int] | None:
        """(sha256, bytes) of the file a run last wrote at `path`, if any."""
        rows = self._read("SELECT sha256, bytes FROM written_files WHERE path = ?", (path,))
        row = rows[0] if rows else None
        if row is None:
            return None
        return (
            self.values.sha256(row[0], ("written_files", "sha256", path)),
            self.values.integer(row[1], ("written_files", "bytes", path)),
        )

    def written_files(self) -> dict[str, tuple[str, int, str | None]]:
        """Every file a run of this folder wrote: path -> (sha256, bytes, the name of the recipe
        that last planned its job)."""
        rows = self._read(
            "SELECT w.path, w.sha256, w.bytes, r.recipe_name FROM written_files w"
            " LEFT JOIN jobs j ON j.key = w.job_key LEFT JOIN runs r ON r.run_id = j.run_id",
            (),
        )
        values, table = self.values, "written_files"
        return {
            values.output_path(path, (table, "path", None)): (
                values.sha256(sha, (table, "sha256", path)),
                values.integer(size, (table, "bytes", path)),
                values.optional_text(recipe, ("runs", "recipe_name", None)),
            )
            for path, sha, size, recipe in rows
        }

    @_room_retry
    def forget_written(self, paths: Sequence[str]) -> None:
        """These files are gone (pruned): no longer ours to delete."""
        with self._write() as cur:
            cur.executemany("DELETE FROM written_files WHERE path = ?", [(p,) for p in paths])

    @_room_retry
    def mark_done(self, key: str, duration_s: float | None = None) -> None:
        self._update_job(
            "UPDATE jobs SET status = 'done', error = NULL, finished_at = ?, duration_s = ?,"
            " run_id = ? WHERE key = ?",
            (_now(), duration_s, self._run_id, key),
        )

    @_room_retry
    def mark_failed(self, key: str, error: str, duration_s: float | None = None) -> None:
        """The job failed in this run; recorded result keys are kept (they are paid for)."""
        self._update_job(
            "UPDATE jobs SET status = 'failed', error = ?, finished_at = ?, duration_s = ?,"
            " run_id = ? WHERE key = ?",
            (error, _now(), duration_s, self._run_id, key),
        )

    def failed_keys(self) -> tuple[str, ...]:
        """Keys of the latest run's jobs that failed, in plan order."""
        rows = self._read(
            "SELECT j.key FROM runs r, json_each(r.job_keys) e JOIN jobs j ON j.key = e.value"
            " WHERE r.seq = (SELECT MAX(seq) FROM runs) AND j.status = 'failed'"
            " ORDER BY CAST(e.key AS INTEGER)",
            (),
        )
        return tuple(self.values.text(row[0], ("jobs", "key", None)) for row in rows)

    def snapshot(self) -> RunSnapshot:
        """The latest run, its jobs in plan order."""
        with self._lock:
            try:
                return snapshot_of(self._conn, self.output_dir)
            except SQLITE_ERRORS as exc:
                raise _io_error(self.path, exc) from None

    # -- plumbing ----------------------------------------------------------------------------

    @contextmanager
    def _write(self, *, durable: bool = False) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            conn = self._conn
            try:
                if durable:
                    conn.execute("PRAGMA synchronous = FULL")
                cur = conn.cursor()
                cur.execute("BEGIN IMMEDIATE")
                try:
                    yield cur
                except BaseException:
                    conn.rollback()
                    raise
                cur.execute("COMMIT")
            except SQLITE_ERRORS as exc:
                if conn.in_transaction:
                    conn.rollback()
                raise _io_error(self.path, exc) from None
            finally:
                if durable:
                    conn.execute("PRAGMA synchronous = NORMAL")

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """The rows, all fetched here: SQLite finds a damaged value while fetching it."""
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except SQLITE_ERRORS as exc:
                raise _io_error(self.path, exc) from None

    def _update_job(self, sql: str, params: tuple[Any, ...]) -> None:
        with self._write() as cur:
            cur.execute(sql, params)
            if cur.rowcount != 1:
                raise StateError(f"job {params[-1]} is not in the recorded plan")


@contextmanager
def _reading(path: Path) -> Iterator[sqlite3.Connection]:
    """_connect_read_only, closed after; a SQLite error while reading is a damaged state."""
    conn = _connect_read_only(path)
    try:
        yield conn
    except SQLITE_ERRORS as exc:
        raise _open_error(path, exc) from None
    finally:
        conn.close()


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing state of a version this backdrop reads."""
    try:
        conn = connect_read_only(path)
    except SQLITE_ERRORS as exc:
        raise _open_error(path, exc) from None
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        check_version(conn, path, create=False)
    except SQLITE_ERRORS as exc:
        conn.close()
        raise _open_error(path, exc) from None
    except StateError:
        conn.close()
        raise
    return conn


def _adopt(cur: sqlite3.Cursor, adoption: Adoption, now: str) -> None:
    # The lock's files are on disk as recorded, and a Backdrop run wrote them (on another
    # machine, perhaps): what the state remembered at those paths is no longer there.
    cur.executemany(
        "INSERT INTO written_files (path, sha256, bytes, job_key) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (path) DO UPDATE SET sha256 = excluded.sha256, bytes = excluded.bytes,"
        " job_key = excluded.job_key WHERE written_files.sha256 != excluded.sha256",
        [(f.path, f.sha256, f.bytes, key) for key, f in adoption.written],
    )
    for key, records in adoption.done.items():
        # An existing row (pending, failed, or done with other files) keeps its payment record.
        cur.execute("DELETE FROM files WHERE job_key = ?", (key,))
        cur.executemany(
            "INSERT INTO files (job_key, idx, path, sha256, width, height, bytes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(key, i, f.path, f.sha256, f.width, f.height, f.bytes) for i, f in enumerate(records)],
        )
        cur.execute(
            "UPDATE jobs SET status = 'done', error = NULL, finished_at = ? WHERE key = ?",
            (now, key),
        )


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
