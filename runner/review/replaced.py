"""Which decided jobs a run would give new images, and why: said before it runs, by `plan
--diff` and by `run`'s preview, and written as the reason once their decisions go back to pending.

The reason compares the job's request with the request that made the images now at its outputs
(the state's record of who wrote each file, else backdrop.lock's request fingerprints), with the
same field names as `plan --diff`: "recipe changed: prompt".
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Literal

from runner.plan.diff import (
    DecisionReplaced,
    PlanDiff,
    Previous,
    PreviousJob,
    changed_fields,
    job_take,
    vars_identity,
)
from runner.plan.plan_model import Job, Plan
from runner.review.decision_model import Review, review_key

GENERATED_AGAIN = "generated again"
WRITES = ("new", "changed", "download_only")  # diff statuses of the jobs a run writes


def decisions_replaced(
    jobs: Iterable[Job],
    review: Review,
    previous: Previous,
    *,
    again: str = GENERATED_AGAIN,
    copied: Collection[str] = (),
) -> tuple[DecisionReplaced, ...]:
    """The decided jobs among `jobs` (those a run writes), each with its reason.

    `again`: the reason for a job generated again under the same request (--force).
    `copied`: the keys of the jobs copied in from a shard folder; `previous` already counts
    them as this folder's (read_previous models the adoption), so their predecessor is found
    by their matrix values, as `plan --diff` finds a changed job's.
    """
    makers: Mapping[str, str] | None = None
    found = []
    for job in jobs:
        key = review_key(job.outputs)
        decision = review.decision(key)
        if decision.status == "pending":
            continue
        if makers is None:
            makers = _makers(previous)
        status: Literal["approved", "rejected"] = (
            "approved" if decision.status == "approved" else "rejected"
        )
        before = _maker(job, makers, previous, copied=job.key in copied)
        reason = _reason(job, before, again)
        found.append(DecisionReplaced(key, job.key, job.outputs[0], job.label, status, reason))
    return tuple(found)


def replaced_in_diff(plan: Plan, diff: PlanDiff, review: Review, previous: Previous) -> PlanDiff:
    """The diff, with the decided jobs it would write (plan --diff)."""
    if not review.decisions:
        return diff
    writes = {entry.key for entry in diff.entries if entry.status in WRITES}
    jobs = [job for job in plan.jobs if job.key in writes]
    replaced = decisions_replaced(jobs, review, previous)
    return PlanDiff(diff.source, diff.entries, diff.totals, replaced)


def _makers(previous: Previous) -> Mapping[str, str]:
    """Output path -> the key of the job whose images are there now."""
    if previous.written is not None:
        return dict(previous.written)
    return {path: old.key for old in previous.latest for path in (*old.outputs, *old.files)}


def _maker(
    job: Job, makers: Mapping[str, str], previous: Previous, *, copied: bool
) -> PreviousJob | None:
    """The earlier job whose images are at the job's outputs now."""
    for path in job.outputs:
        key = makers.get(path)
        if key is not None and key in previous.known and not (copied and key == job.key):
            return previous.known[key]
    # As plan --diff finds a changed job's predecessor: same matrix values, else same outputs.
    same = vars_identity(job.vars)
    earlier = [old for old in previous.latest if old.key != job.key]
    for old in earlier:
        if old.vars is not None and vars_identity(old.vars) == same:
            return old
    return next((old for old in earlier if set(old.outputs) & set(job.outputs)), None)


def _reason(job: Job, before: PreviousJob | None, again: str) -> str:
    if before is None:
        return "new images"
    if before.key == job.key:
        return again
    if job_take(job) > before.take:
        return f"regenerated as take {job_take(job)}"
    fields = [name for name in changed_fields(job, before) if name != "take"]
    return f"recipe changed: {', '.join(fields)}" if fields else "recipe changed"
