"""Decisions whose job has left the run: kept in review.yaml, but reported by review and verify."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from runner.diagnostics import BackdropError
from runner.review.decision_model import orphaned, review_key
from runner.review.decisions import load_review


def known_job_keys(output_dir: Path) -> tuple[str, ...] | None:
    """The review keys of the folder's jobs: from the last run, else from a committed lock."""
    from runner.records.lock_reader import read_lock
    from runner.records.state import StateStore

    try:
        snapshot = StateStore.read_snapshot(output_dir)
        return tuple(review_key(job.outputs) for job in snapshot.jobs if job.outputs)
    except BackdropError:
        pass
    try:
        lock = read_lock(output_dir)
    except BackdropError:
        return None  # nothing says which jobs exist; better silent than wrong
    by_job: dict[str, list[str]] = defaultdict(list)
    for entry in lock.entries:
        by_job[entry.job].append(entry.path)
    return tuple(review_key(sorted(paths)) for paths in by_job.values())


def orphaned_decisions(output_dir: Path) -> tuple[str, ...]:
    """The decided job keys no job in the folder has (empty when that cannot be told)."""
    keys = known_job_keys(output_dir)
    return () if keys is None else orphaned(load_review(output_dir), keys)
