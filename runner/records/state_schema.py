"""The state database's tables, version check and row mapping (SQL in, frozen records out)."""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import quote

from runner.diagnostics import NoRunError, StateError
from runner.recipe.model import DEFAULT_PRICES, PriceTable
from runner.records.run_records import FileRecord, JobRecord, JobStatus, RunSnapshot
from runner.records.state_spend import generation_records
from runner.records.state_values import DAMAGED_HINT, StateValues

SCHEMA_VERSION = 1
FRESH_START = DAMAGED_HINT  # never "delete it": .backdrop records what was paid for

# Version 1, in PRAGMA user_version. From the first release on, a change is a new version with
# a tested migration; a state of another version is refused, never guessed at.
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    recipe_name TEXT NOT NULL,
    recipe_path TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    tool_version TEXT NOT NULL,
    axes TEXT NOT NULL,
    report_rows TEXT,
    report_columns TEXT,
    estimated_cost_usd REAL NOT NULL,
    job_keys TEXT NOT NULL,
    prices TEXT
);
CREATE TABLE IF NOT EXISTS assets (
    sha256 TEXT PRIMARY KEY,
    asset_key TEXT NOT NULL,
    uploaded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    key TEXT PRIMARY KEY,
    idx INTEGER NOT NULL,
    label TEXT NOT NULL,
    vars TEXT NOT NULL,
    image_kind TEXT NOT NULL,
    image_ref TEXT NOT NULL,
    image_path TEXT,
    prompt_object TEXT NOT NULL,
    outputs TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    record_uuid TEXT,
    result_keys TEXT,
    temporary_url TEXT,
    credits_left INTEGER,
    started_at TEXT,
    finished_at TEXT,
    duration_s REAL,
    run_id TEXT,
    take INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS files (
    job_key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (job_key, idx)
);
-- Every file a run wrote, by path, kept after its job leaves the plan: the only files
-- `run --prune` may delete.
CREATE TABLE IF NOT EXISTS written_files (
    path TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    job_key TEXT NOT NULL
);
-- A generation request about to be sent, until its answer is recorded (or it is refused, which
-- is not charged). A row left by a run that died is a generation 1min.ai may have charged
-- without backdrop ever seeing the answer: the next run reports it, then forgets it.
CREATE TABLE IF NOT EXISTS sent_requests (
    job_key TEXT PRIMARY KEY,
    run_id TEXT,
    sent_at TEXT NOT NULL
);
-- Every generation the API answered (so charged), kept when --force replaces a job's result:
-- the budget's "spent so far" counts these, not the jobs' latest results.
CREATE TABLE IF NOT EXISTS generations (
    record_uuid TEXT PRIMARY KEY,
    job_key TEXT NOT NULL,
    prompt_object TEXT NOT NULL,
    run_id TEXT
);
"""

UPSERT_JOB = """
INSERT INTO jobs (key, idx, label, vars, image_kind, image_ref, image_path, prompt_object,
                  outputs, run_id, take)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    idx = excluded.idx, label = excluded.label, vars = excluded.vars,
    image_kind = excluded.image_kind, image_ref = excluded.image_ref,
    image_path = excluded.image_path, prompt_object = excluded.prompt_object,
    outputs = excluded.outputs, run_id = excluded.run_id, take = excluded.take
"""

JOB_COLUMNS = (
    "key, idx, label, vars, image_kind, image_ref, image_path, prompt_object, outputs, status, "
    "attempts, error, record_uuid, result_keys, temporary_url, duration_s, take"
)


@dataclass(frozen=True)
class JobState:
    """What the state remembers of one job, for deciding what a run still has to do."""

    key: str
    status: JobStatus  # pending, generated, done or failed (never skipped: that is per run)
    attempts: int
    record_uuid: str | None
    result_keys: tuple[str, ...]
    temporary_url: str | None
    files: tuple[FileRecord, ...]
    error: str | None = None

    @property
    def generated(self) -> bool:
        """Paid for: download from `result_keys`, never generate again (unless forced)."""
        return bool(self.result_keys)


def check_version(conn: sqlite3.Connection, path: Path, *, create: bool) -> None:
    """The state is of SCHEMA_VERSION (PRAGMA user_version); an empty file is made one when
    `create`. Any other version is refused (exit 3): nothing is migrated before a release."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION:
        return
    empty = conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is None
    if version == 0 and empty:
        if not create:
            raise StateError(f"{path} holds no backdrop state", FRESH_START)
        conn.execute("BEGIN IMMEDIATE")
        # One statement at a time: executescript would commit outside our transaction.
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
        return
    if version > SCHEMA_VERSION:
        raise StateError(
            f"{path} was written by a newer backdrop (state version {version})",
            "upgrade backdrop, or use a different output folder",
        )
    raise StateError(
        f"{path} is not a state this backdrop reads (state version {version}; it reads"
        f" {SCHEMA_VERSION}): a development version of backdrop or another program wrote it",
        FRESH_START,
    )


def prices_text(prices: PriceTable) -> str:
    return json.dumps(
        {"square": dict(prices.square), "non_square": dict(prices.non_square)}, sort_keys=True
    )


def prices_of(text: object) -> PriceTable:
    """A run's price table as recorded; the list prices when none is, or what is recorded is not
    a price table (a state file can be committed by anyone)."""
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return DEFAULT_PRICES
    tables = []
    for name in ("square", "non_square"):
        table = data.get(name)
        if not isinstance(table, dict) or not all(
            isinstance(quality, str) and _is_price(price) for quality, price in table.items()
        ):
            return DEFAULT_PRICES
        tables.append({quality: float(price) for quality, price in table.items()})
    return PriceTable(square=tables[0], non_square=tables[1])


def _is_price(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def connect_read_only(path: Path, timeout: float = 10.0) -> sqlite3.Connection:
    """A read-only connection that never writes beside the state file.

    A WAL state is read through its -shm file, created on first read; on a read-only disk
    (an archived campaign) it cannot be, and the file cannot change either: read it as immutable.
    """
    from runner.records.state_folder import check_state_folder

    check_state_folder(path.parent.parent)  # <output_dir>/.backdrop/state.db
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    shm, wal = path.with_name(path.name + "-shm"), path.with_name(path.name + "-wal")
    # Not with a -wal file: it may hold paid records that "immutable" would silently skip.
    if not shm.exists() and not wal.exists() and not os.access(path.parent, os.W_OK):
        uri += "&immutable=1"
    return sqlite3.connect(uri, uri=True, timeout=timeout)


def snapshot_of(conn: sqlite3.Connection, output_dir: Path) -> RunSnapshot:
    values = StateValues(output_dir / ".backdrop" / "state.db")
    run = conn.execute(
        "SELECT seq, run_id, recipe_name, recipe_path, started_at, finished_at, tool_version,"
        " axes, report_rows, report_columns, estimated_cost_usd, job_keys, prices"
        " FROM runs ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    if run is None:
        raise no_run(output_dir)
    at = _row("runs", run[0])
    run_id = values.text(run[1], at("run_id"))
    job_keys = values.text_list(run[11], at("job_keys"))  # checked before SQL reads it
    columns = ", ".join(f"j.{c.strip()}" for c in JOB_COLUMNS.split(","))
    job_rows = conn.execute(
        f"SELECT {columns} FROM json_each(?) e JOIN jobs j ON j.key = e.value"
        " ORDER BY CAST(e.key AS INTEGER)",
        (run[11],),
    ).fetchall()
    file_rows = conn.execute(
        "SELECT f.job_key, f.idx, f.path, f.sha256, f.width, f.height, f.bytes"
        " FROM json_each(?) e JOIN files f ON f.job_key = e.value ORDER BY f.job_key, f.idx",
        (run[11],),
    ).fetchall()
    del job_keys
    files = files_by_job(file_rows, values)
    jobs = tuple(job_record(row, files.get(row[0], []), values) for row in job_rows)
    return RunSnapshot(
        recipe_name=values.text(run[2], at("recipe_name")),
        recipe_path=values.text(run[3], at("recipe_path")),
        run_id=run_id,
        started_at=values.text(run[4], at("started_at")),
        finished_at=values.optional_text(run[5], at("finished_at")),
        tool_version=values.text(run[6], at("tool_version")),
        axes=tuple(values.text_list(run[7], at("axes"))),
        report_rows=values.optional_text(run[8], at("report_rows")),
        report_columns=values.optional_text(run[9], at("report_columns")),
        # a sum of floats: whole cents and less
        estimated_cost_usd=round(values.number(run[10], at("estimated_cost_usd")), 4),
        jobs=jobs,
        generations=generation_records(conn, values),
        prices=prices_of(run[12]),
    )


def _row(table: str, row: object) -> Callable[[str], tuple[str, str, object]]:
    """Names a stored value for StateValues: (table, column, the row's key)."""
    return lambda column: (table, column, row)


ImageKind = Literal["file", "url", "asset"]
JOB_KINDS = ("file", "url", "asset")
STORED_STATUSES = ("pending", "generated", "done", "failed")


def job_record(row: Sequence[Any], files: list[FileRecord], values: StateValues) -> JobRecord:
    (key, idx, label, vars_, kind, ref, image_path, prompt_object, outputs, status, attempts,
     error, uuid, _result_keys, _temporary_url, duration_s, take) = row  # fmt: skip
    key = values.text(key, ("jobs", "key", None))
    at = _row("jobs", key)
    status = values.choice(status, STORED_STATUSES, at("status"))
    return JobRecord(
        key=key,
        index=values.integer(idx, at("idx")),
        label=values.text(label, at("label")),
        vars=values.json(vars_, dict, at("vars")),
        image_kind=cast(ImageKind, values.choice(kind, JOB_KINDS, at("image_kind"))),
        image_ref=values.text(ref, at("image_ref")),
        image_path=values.optional_text(image_path, at("image_path")),
        prompt_object=values.prompt_object(prompt_object, at("prompt_object")),
        outputs=tuple(values.output_paths(outputs, at("outputs"))),
        status=cast(JobStatus, status),
        attempts=values.integer(attempts, at("attempts")),
        error=values.optional_text(error, at("error")),
        record_uuid=values.optional_text(uuid, at("record_uuid")),
        files=tuple(files),
        duration_s=values.optional_number(duration_s, at("duration_s")),
        take=values.integer(take, at("take"), 1),
    )


def job_state_of(row: Sequence[Any], files: list[FileRecord], values: StateValues) -> JobState:
    key, status, attempts, uuid, result_keys, temporary_url, error = row
    key = values.text(key, ("jobs", "key", None))
    at = _row("jobs", key)
    return JobState(
        key=key,
        status=cast(JobStatus, values.choice(status, STORED_STATUSES, at("status"))),
        attempts=values.integer(attempts, at("attempts")),
        record_uuid=values.optional_text(uuid, at("record_uuid")),
        result_keys=(
            tuple(values.text_list(result_keys, at("result_keys"))) if result_keys else ()
        ),
        temporary_url=values.optional_text(temporary_url, at("temporary_url")),
        files=tuple(files),
        error=values.optional_text(error, at("error")),
    )


def file_record(row: Sequence[Any], values: StateValues) -> FileRecord:
    """A `files` row (job_key, idx, path, sha256, width, height, bytes), checked."""
    at = _row("files", row[0])
    return FileRecord(
        path=values.output_path(row[2], at("path")),
        sha256=values.sha256(row[3], at("sha256")),
        width=values.integer(row[4], at("width")),
        height=values.integer(row[5], at("height")),
        bytes=values.integer(row[6], at("bytes")),
    )


def files_by_job(rows: Sequence[Sequence[Any]], values: StateValues) -> dict[str, list[FileRecord]]:
    """`files` rows by job key, in the order read."""
    files: dict[str, list[FileRecord]] = {}
    for row in rows:
        key = values.text(row[0], ("files", "job_key", None))
        files.setdefault(key, []).append(file_record(row, values))
    return files


def no_run(output_dir: Path) -> NoRunError:
    if os.path.lexists(output_dir) and not output_dir.is_dir():
        what = "a file" if output_dir.is_file() else "a device, a pipe or a socket"
        return NoRunError(
            f"{output_dir} is {what}, not an output folder",
            hint="give the output folder of a run (the one with backdrop.lock), "
            "e.g. out/spring-campaign",
        )
    return NoRunError(
        f"no run recorded in {output_dir}: no run has written to it yet; "
        "run `backdrop run RECIPE` first",
        hint="or check the folder name: it is the recipe's output folder",
    )
