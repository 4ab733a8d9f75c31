"""The state's record of spending: every generation charged, or maybe charged, in `generations`.

A row is one generation, by the id that identifies it everywhere: the API's record uuid for an
answered one; for one that got no answer (a 5xx, a dropped connection, a timeout, a run that
died), `unanswered:JOB:SENT_AT[:ATTEMPT]`: maybe charged, and counted as spent all the same.
Rows are never deleted: a job generated again (--force) keeps its earlier charges. What a lock
pulled from git records (another machine's, a fresh clone's) is taken in by the same ids.

Separate from state.py, which calls these inside its own transactions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from runner.records.run_records import MAYBE_PREFIX, GenerationRecord
from runner.records.state_values import StateValues


def move_unanswered(cur: sqlite3.Cursor, key: str) -> str | None:
    """The job's generation on record as sent got no answer: keep it as maybe charged and clear
    it from sent_requests. Returns when it was sent (None: it was not on record)."""
    row = cur.execute("SELECT sent_at FROM sent_requests WHERE job_key = ?", (key,)).fetchone()
    if row is None:
        return None
    cur.execute(
        "INSERT OR IGNORE INTO generations (record_uuid, job_key, prompt_object, run_id)"
        f" SELECT '{MAYBE_PREFIX}' || s.job_key || ':' || s.sent_at || ':' || j.attempts,"
        " s.job_key, j.prompt_object, s.run_id"
        " FROM sent_requests s JOIN jobs j ON j.key = s.job_key WHERE s.job_key = ?",
        (key,),
    )
    cur.execute("DELETE FROM sent_requests WHERE job_key = ?", (key,))
    return str(row[0])


def generation_records(
    conn: sqlite3.Connection, values: StateValues
) -> tuple[GenerationRecord, ...]:
    """Every generation the state records, charged or maybe charged, sent and not yet answered
    ones too; in run order, then by id (backdrop.lock's order: rebuilt, it is the same bytes)."""
    rows = conn.execute(
        "SELECT record_uuid, job_key, run_id, prompt_object FROM generations UNION ALL"
        f" SELECT '{MAYBE_PREFIX}' || s.job_key || ':' || s.sent_at, s.job_key, s.run_id,"
        " j.prompt_object FROM sent_requests s JOIN jobs j ON j.key = s.job_key"
    ).fetchall()
    records = {record.id: record for record in _records(rows, values, "generations")}
    return tuple(sorted(records.values(), key=lambda r: (r.run or "", r.id)))


@dataclass(frozen=True)
class StateSpend:
    """What one state says was spent, for the campaign's spend (spend.py)."""

    generations: tuple[GenerationRecord, ...]
    # Jobs done or paid (result keys kept), as "job:KEY" records with their request's size: a
    # job adopted from a lock has no generation in this state, but it was paid somewhere.
    paid_jobs: tuple[GenerationRecord, ...]
    failed: frozenset[str]  # jobs that failed in their latest run
    recipes: frozenset[str]  # the names of the recipes its runs ran


def read_state_spend(conn: sqlite3.Connection, values: StateValues) -> StateSpend:
    rows = conn.execute(
        "SELECT 'job:' || key, key, run_id, prompt_object FROM jobs"
        " WHERE status = 'done' OR (result_keys IS NOT NULL AND result_keys != '[]')"
    ).fetchall()
    failed = conn.execute("SELECT key FROM jobs WHERE status = 'failed'").fetchall()
    recipes = conn.execute("SELECT DISTINCT recipe_name FROM runs").fetchall()
    return StateSpend(
        generation_records(conn, values),
        tuple(_records(rows, values, "jobs")),
        frozenset(values.text(row[0], ("jobs", "key", None)) for row in failed),
        frozenset(values.text(row[0], ("runs", "recipe_name", None)) for row in recipes),
    )


def take_in(cur: sqlite3.Cursor, records: Iterable[GenerationRecord]) -> None:
    """Generations a lock records that this state does not (by id): they cost money too."""
    cur.executemany(
        "INSERT OR IGNORE INTO generations (record_uuid, job_key, prompt_object, run_id)"
        " VALUES (?, ?, ?, ?)",
        [
            (
                record.id,
                record.job,
                json.dumps({"n": record.images, "quality": record.quality, "size": record.size}),
                record.run,
            )
            for record in records
        ],
    )


def _records(rows: Iterable[Any], values: StateValues, table: str) -> Iterator[GenerationRecord]:
    """Rows (id, job, run, promptObject JSON) as records, each value checked: backdrop records
    every generation with its n, quality and size, so a row without them is a damaged state
    (StateError), not a generation left out of the budget."""
    for uuid, job, run, prompt_object in rows:
        job = values.text(job, (table, "job_key" if table == "generations" else "key", None))
        at = (table, "prompt_object", job)
        asked = values.prompt_object(prompt_object, at)
        images, quality, size = asked.get("n"), asked.get("quality"), asked.get("size")
        if images is None or quality is None or size is None:
            values.damaged(at, "has no n, quality or size")
        yield GenerationRecord(
            values.text(uuid, (table, "record_uuid", job)),
            job,
            values.optional_text(run, (table, "run_id", job)),
            images,
            quality,
            size,
        )
