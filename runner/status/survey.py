"""Each job's standing, read-only: from the plan, the folder's state, its locks and review.yaml.

Nothing here hashes an image: a file is as backdrop wrote it when it is there with its recorded
size (a stat, as the review page checks). A same-size swap is left to `verify` and `export`,
which hash what they check. Nothing is created either, and nothing waits for a running `run`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from runner.execute.adopt import lock_folders
from runner.plan.diff import PreviousJob, changed_fields
from runner.plan.plan_model import Job, Plan
from runner.records.run_records import JobRecord, RunSnapshot
from runner.records.state import StateStore
from runner.records.state_schema import JobState
from runner.review.binding import CHANGED_ON_DISK, images_at, shown_status
from runner.review.decision_model import Decision, Review, review_key
from runner.status.standing import JobStanding, Progress, ReviewStatus


@dataclass(frozen=True)
class LockedJob:
    """A job a backdrop.lock records as done: its folder, and the SHA-256 at each path."""

    key: str
    folder: Path
    files: Mapping[str, str]
    request: tuple[tuple[str, str], ...] | None


@dataclass(frozen=True)
class Survey:
    jobs: tuple[JobStanding, ...]
    has_run: bool
    recipe_changed: bool = False
    removed: int = 0
    stale_files: int = 0
    unreadable_lock: bool = False  # the folder's own backdrop.lock cannot be read
    variants: Mapping[str, int] = field(default_factory=dict)  # what review and export check


def survey_plan(plan: Plan, review: Review) -> Survey:
    """The plan's jobs (at their takes from review.yaml) against what the folder holds."""
    out = plan.output_dir
    has_run = StateStore.has_recorded_run(out)
    states: dict[str, JobState] = {}
    written: dict[str, tuple[str, int, str | None]] = {}
    keys_then: frozenset[str] = frozenset()
    if has_run:
        keys_then = StateStore.read_run_header(out).job_keys
        with StateStore.open_read_only(out) as store:
            states = store.job_states()
            written = store.written_files()
    planned = {job.key for job in plan.jobs}
    # The latest run's jobs are read whole only when the recipe changed since: to say what
    # changed in a job, and which jobs left the recipe.
    latest = StateStore.read_snapshot(out).jobs if has_run and planned != keys_then else ()
    before = {review_key(job.outputs): job for job in latest if job.outputs}
    # backdrop.lock speaks for the jobs the state has not done (a fresh clone, a pulled lock).
    unsure = any(not _done(states.get(job.key)) for job in plan.jobs)
    locks, unreadable = _locked_jobs(out) if unsure else ({}, False)
    by_path = {path: locked for locked in locks.values() for path in locked.files}
    jobs = []
    for job in plan.jobs:
        po = job.prompt_object
        key = review_key(job.outputs)
        jobs.append(
            _standing(
                out,
                job,
                key,
                po.n * plan.prices.price(po.quality, po.size),
                review.decision(key),
                states.get(job.key),
                locks,
                before,
                by_path,
            )
        )
    keys = {job.review_key for job in jobs}
    removed = len(before.keys() - keys)
    added = bool(before) and bool(keys - before.keys())
    changed = removed > 0 or added or any(job.changed_fields for job in jobs)
    if before:
        variants = {key: len(job.outputs) for key, job in before.items()}
    else:
        variants = {job.review_key: len(job.outputs) for job in jobs}
    return Survey(
        tuple(jobs),
        has_run,
        recipe_changed=changed,
        removed=removed,
        stale_files=_stale(
            out, written, [p for job in plan.jobs for p in job.outputs], plan.recipe_name
        ),
        unreadable_lock=unreadable,
        variants=variants,
    )


def _done(state: JobState | None) -> bool:
    return state is not None and state.status == "done" and bool(state.files)


_RUN_PROGRESS: Mapping[str, Progress] = {"generated": "paid", "failed": "failed"}


def survey_snapshot(output_dir: Path, snapshot: RunSnapshot, review: Review) -> Survey:
    """Without its recipe: the latest run's jobs, as the state records them (no prices: nothing
    can be run without the recipe anyway)."""
    jobs = []
    for job in sorted(snapshot.jobs, key=lambda job: job.index):
        if not job.outputs:
            continue
        key = review_key(job.outputs)
        decision = review.decision(key)
        if job.status in ("done", "skipped") and job.files:
            if decision.take != job.take:  # decided on another take than the folder holds
                decision = Decision(take=job.take)
            images = images_at(output_dir, job.outputs, job.files)
            jobs.append(_generated(job, key, 0.0, decision, images))
            continue
        progress = _RUN_PROGRESS.get(job.status, "not_run")
        jobs.append(_standing_of(job, key, 0.0, progress))
    variants = {review_key(job.outputs): len(job.outputs) for job in snapshot.jobs if job.outputs}
    return Survey(tuple(jobs), True, variants=variants)


def _standing_of(
    job: Job | JobRecord, key: str, cost: float, progress: Progress, **more: Any
) -> JobStanding:
    return JobStanding(
        review_key=key,
        label=job.label,
        vars=job.vars,
        outputs=job.outputs,
        progress=progress,
        cost_usd=cost,
        **more,
    )


def _standing(
    out: Path,
    job: Job,
    key: str,
    cost: float,
    decision: Decision,
    state: JobState | None,
    locks: Mapping[str, LockedJob],
    before: Mapping[str, JobRecord],
    by_path: Mapping[str, LockedJob],
) -> JobStanding:
    if state is not None and _done(state):
        return _generated(job, key, cost, decision, images_at(out, job.outputs, state.files))
    locked = locks.get(job.key)
    # The run takes it in from the lock, paying nothing, when its files are there (adopt.py).
    if locked is not None and _all_there(locked, job.outputs):
        images = tuple(locked.files[path] for path in job.outputs)
        return _generated(job, key, cost, decision, images, from_lock=True)
    if state is not None and state.generated:
        return _standing_of(job, key, cost, "paid")
    if state is not None and state.status == "failed":
        return _standing_of(job, key, cost, "failed")
    fields = _changed_fields(job, key, before, by_path)
    replaced = bool(fields) and decision.status == "approved"
    return _standing_of(
        job, key, cost, "not_run", changed_fields=fields, approval_replaced=replaced
    )


def _generated(
    job: Job | JobRecord,
    key: str,
    cost: float,
    decision: Decision,
    images: Sequence[str | None],
    *,
    from_lock: bool = False,
) -> JobStanding:
    status, delivers, unheld, without_pick = review_of(decision, images)
    return _standing_of(
        job,
        key,
        cost,
        "generated",
        from_lock=from_lock,
        changed_on_disk=CHANGED_ON_DISK in images or None in images,
        review=status,
        unheld=unheld,
        without_pick=without_pick,
        delivers=delivers,
    )


def review_of(
    decision: Decision, images: Sequence[str | None]
) -> tuple[ReviewStatus, str | None, bool, bool]:
    """(status, the image export delivers, an approval that does not hold, approved without
    a pick) as the review page and export see the decision, with `n > 1` needing a pick."""
    shown = shown_status(decision, images)
    if shown != "approved":
        return shown, None, decision.status == "approved", False
    n = len(images)
    pick = decision.pick if decision.pick is not None else (1 if n == 1 else None)
    if pick is None or not 1 <= pick <= n:
        return "pending", None, False, True
    return "approved", images[pick - 1], False, False


def _changed_fields(
    job: Job, key: str, before: Mapping[str, JobRecord], by_path: Mapping[str, LockedJob]
) -> tuple[str, ...]:
    """What changed in the recipe since the job at these outputs was generated; () if never."""
    earlier = before.get(key)
    if earlier is not None and earlier.key != job.key and earlier.files:
        previous = PreviousJob(
            earlier.key,
            "done",
            earlier.outputs,
            vars=earlier.vars,
            prompt_object=earlier.prompt_object,
            image=f"{earlier.image_kind}:{earlier.image_ref}",
            take=earlier.take,
        )
        return changed_fields(job, previous)
    locked = by_path.get(job.outputs[0])
    if (
        locked is not None and locked.key != job.key and earlier is None
    ):  # a fresh clone: the lock's fingerprints say
        previous = PreviousJob("", "done", tuple(locked.files), fingerprints=locked.request)
        return changed_fields(job, previous)
    return ()


def _all_there(locked: LockedJob, outputs: Sequence[str]) -> bool:
    if set(locked.files) != set(outputs):
        return False
    return all((locked.folder / path).is_file() for path in outputs)


def _locked_jobs(output_dir: Path) -> tuple[dict[str, LockedJob], bool]:
    """The jobs the folder's backdrop.lock, and its shard folders' locks, record as done.

    An unreadable lock adds nothing (the run rewrites the folder's own; verify says why)."""
    from runner.records.lock_reader import read_lock
    from runner.records.lockfile import LockFileProblem

    found: dict[str, LockedJob] = {}
    unreadable = False
    for folder in lock_folders(output_dir):
        try:
            lock = read_lock(folder)
        except LockFileProblem:
            # by path: output_dir may not exist yet (a shard folder not made yet)
            unreadable = unreadable or os.path.abspath(folder) == os.path.abspath(output_dir)
            continue
        files: dict[str, dict[str, str]] = {}
        requests: dict[str, tuple[tuple[str, str], ...] | None] = {}
        for entry in lock.entries:
            files.setdefault(entry.job, {})[entry.path] = entry.sha256
            requests.setdefault(entry.job, entry.request)
        for job, paths in files.items():
            found.setdefault(job, LockedJob(job, folder, paths, requests[job]))
    return found, unreadable


def _stale(
    out: Path,
    written: Mapping[str, tuple[str, int, str | None]],
    planned: Iterable[str],
    recipe: str,
) -> int:
    """Images a run wrote, still as written (size), that no job of the plan produces."""
    outputs = set(planned)
    normal: set[str] | None = None  # made only for a path not found as it is
    count = 0
    for path, (_, size, owner) in written.items():
        if path in outputs or owner not in (None, recipe):
            continue
        normal = normal if normal is not None else {_normal(output) for output in outputs}
        if _normal(path) in normal:
            continue
        try:
            count += os.stat(os.path.join(out, path)).st_size == size
        except OSError:
            continue
    return count


def _normal(path: str) -> str:
    return PurePosixPath(os.path.normpath(path)).as_posix()
