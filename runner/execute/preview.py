"""What a run would do before it spends anything: the money guard's input."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from runner.execute.adopt import LockFiles, adoption_for_state, lock_adoption
from runner.execute.result_files import files_intact
from runner.execute.run_options import RunOptions
from runner.execute.selection import select_jobs
from runner.plan.plan_model import CostEstimate, Job, Plan
from runner.records.run_records import Adoption
from runner.records.state import StateStore


@dataclass(frozen=True)
class RunPreview:
    selected: tuple[Job, ...]  # the jobs --only/--shard/--limit/--retry-failed leave
    to_generate: tuple[Job, ...]  # will be paid for
    to_download: int  # paid for by an earlier run, only downloads are left
    up_to_date: int  # done earlier with their files intact: skipped
    cost: CostEstimate  # of to_generate only
    # Jobs whose files the run writes without paying: their downloads, and the copies from a
    # shard folder's lock (adopt.py); with to_generate, every job whose images it replaces.
    downloads: tuple[Job, ...] = ()
    copies: tuple[Job, ...] = ()

    @property
    def writes(self) -> tuple[Job, ...]:
        """Every job the run writes images for, in plan order."""
        keys = {job.key for job in (*self.to_generate, *self.downloads, *self.copies)}
        return tuple(job for job in self.selected if job.key in keys)

    @property
    def images(self) -> int:
        return sum(job.prompt_object.n for job in self.to_generate)


def preview_run(plan: Plan, options: RunOptions, files: LockFiles | None = None) -> RunPreview:
    """Sort the selected jobs into what will be generated, downloaded or skipped.

    Reads the state without taking the output folder's lock; the run re-checks all of this under
    the lock, so a concurrent change can only make the estimate pessimistic or refused later.
    """
    if not StateStore.has_recorded_run(plan.output_dir):
        selected = select_jobs(plan.jobs, options.selection, keys=options.keys)
        if options.retry_failed:
            selected = ()
        # The run adopts what backdrop.lock shows done before it sends anything (adopt.py).
        keys = {job.key for job in selected}
        found = lock_adoption(plan.output_dir, plan, keys, strict=True, files=files)
        adopted = found.done
        fresh = tuple(
            job
            for job in selected
            if job.key not in adopted or (options.force and job.key not in options.protected)
        )
        copies = _copied(selected, found, fresh)
        return _preview(plan, selected, fresh, (), len(selected) - len(fresh), copies)
    with StateStore.open_read_only(plan.output_dir) as state:  # plan must not write
        failed = set(state.failed_keys()) if options.retry_failed else None
        selected = select_jobs(plan.jobs, options.selection, failed_keys=failed, keys=options.keys)
        states = state.job_states([job.key for job in selected])
        # What the run will adopt from a lock the state does not know (pulled from git).
        adoption = adoption_for_state(state, plan, {job.key for job in selected})
    adopted = adoption.done if adoption is not None else {}
    to_generate: list[Job] = []
    downloads: list[Job] = []
    up_to_date = 0
    for job in selected:
        known = states.get(job.key)
        force = options.force and job.key not in options.protected
        if not force and job.key in adopted:
            up_to_date += 1
        elif force or known is None:
            to_generate.append(job)
        elif known.status == "done" and files_intact(plan.output_dir, job.outputs, known.files):
            up_to_date += 1
        elif known.generated:
            downloads.append(job)
        else:
            to_generate.append(job)
    fresh = tuple(to_generate)
    copies = () if adoption is None else _copied(selected, adoption, fresh)
    return _preview(plan, selected, fresh, tuple(downloads), up_to_date, copies)


def _copied(
    selected: tuple[Job, ...], adoption: Adoption, fresh: tuple[Job, ...]
) -> tuple[Job, ...]:
    """The selected jobs the run copies in from another folder's lock (not those it generates)."""
    copied = {key for _, key, _ in adoption.copies} - {job.key for job in fresh}
    return tuple(job for job in selected if job.key in copied)


def _preview(
    plan: Plan,
    selected: tuple[Job, ...],
    to_generate: tuple[Job, ...],
    downloads: tuple[Job, ...],
    done: int,
    copies: tuple[Job, ...] = (),
) -> RunPreview:
    cost = dataclasses.replace(plan, jobs=to_generate).cost()
    return RunPreview(selected, to_generate, len(downloads), done, cost, downloads, copies)
