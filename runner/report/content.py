"""What an output folder holds, as every report tells it: each job's generation (its record and
when it was generated), when the folder last changed, and what its generations cost.

Every value here comes from the folder's content and its records, never from the run that
writes the reports, so that a re-run that changes nothing rewrites no report (teams commit them).
A job's time is the start of the run that generated it, to the second, as that run's id says:
the state and backdrop.lock both record it, so a fresh clone, whose state is taken from the
lock, tells the same times as the machine that ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from runner.records.run_records import GenerationRecord, JobRecord, RunSnapshot, run_started_at
from runner.records.spend import priced


@dataclass(frozen=True)
class Generated:
    """The generation a job's images (or its paid, undownloaded result) come from."""

    record: str | None  # the API's record uuid
    at: datetime | None  # the start of the run that generated it (UTC)


@dataclass(frozen=True)
class FolderContent:
    generated: Mapping[str, Generated]  # by job key
    updated_at: datetime | None  # the latest generation the folder records (None: none)
    cost_usd: float  # every generation charged, at the latest run's prices
    maybe_charged_usd: float  # generations that got no answer: maybe charged


def folder_content(snapshot: RunSnapshot) -> FolderContent:
    charged = [g for g in snapshot.generations if not g.maybe]
    maybe = [g for g in snapshot.generations if g.maybe]
    cost, _ = priced((*charged, *_done_without_charge(snapshot, charged)), snapshot.prices)
    maybe_cost, _ = priced(maybe, snapshot.prices)
    times = [moment for g in snapshot.generations if (moment := run_started_at(g.run))]
    return FolderContent(
        generated=_generated(snapshot.jobs, snapshot.generations, charged),
        updated_at=max(times, default=None),
        cost_usd=cost,
        maybe_charged_usd=maybe_cost,
    )


def iso_utc(moment: datetime | None) -> str | None:
    """2026-04-01T09:30:00Z, or None."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _generated(
    jobs: tuple[JobRecord, ...],
    generations: tuple[GenerationRecord, ...],
    charged: list[GenerationRecord],
) -> dict[str, Generated]:
    by_id = {g.id: g for g in generations}
    # A job taken from a committed lock (a fresh clone) knows no record of its own: its images
    # come from the latest charged generation of its request (its key), which the lock records.
    latest: dict[str, GenerationRecord] = {}
    for g in sorted(charged, key=lambda g: (g.run or "", g.id)):
        if not g.id.startswith("job:"):  # a placeholder: the job was paid for elsewhere
            latest[g.job] = g
    found: dict[str, Generated] = {}
    for job in jobs:
        generation: GenerationRecord | None = None
        if job.record_uuid:
            generation = by_id.get(job.record_uuid)
            record: str | None = job.record_uuid
        elif job.status == "done":
            generation = latest.get(job.key)
            record = generation.id if generation is not None else None
        else:
            record = None
        at = run_started_at(generation.run) if generation is not None else None
        found[job.key] = Generated(record, at)
    return found


def _done_without_charge(
    snapshot: RunSnapshot, charged: list[GenerationRecord]
) -> list[GenerationRecord]:
    """A job done with no generation on record (a lock written before locks recorded them,
    images copied from a shard folder) was paid once somewhere: it counts at its request's
    price, as the budget counts it (records/spend.py)."""
    paid = {g.job for g in charged}
    records = []
    for job in snapshot.jobs:
        if job.status != "done" or job.key in paid:
            continue
        po = job.prompt_object
        n, quality, size = po.get("n", 1), po.get("quality"), po.get("size")
        whole = isinstance(n, int) and not isinstance(n, bool) and n > 0
        if whole and isinstance(quality, str) and isinstance(size, str):
            records.append(GenerationRecord(f"job:{job.key}", job.key, None, n, quality, size))
    return records
