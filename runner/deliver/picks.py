"""Which result each job delivers: approved jobs only, the picked variant (or the only one)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from runner.records.run_records import FileRecord, JobRecord, RunSnapshot
from runner.review.decision_model import Decision, review_key


@dataclass(frozen=True)
class Pick:
    review_key: str  # the job's key in review.yaml: its output path without extension
    job: JobRecord
    variant: int  # 1-based
    file: FileRecord  # the generated image delivered
    take: int


@dataclass(frozen=True)
class Held:
    """A job export leaves out, and why (for the warning, or the error with --strict)."""

    review_key: str
    label: str
    reason: str  # "pending", "rejected", "approved without a picked variant", "not generated"


def pick_results(
    snapshot: RunSnapshot, decisions: Mapping[str, Decision]
) -> tuple[tuple[Pick, ...], tuple[Held, ...]]:
    """The approved jobs' chosen files, in plan order, and the jobs left out."""
    picks: list[Pick] = []
    held: list[Held] = []
    for job in sorted(snapshot.jobs, key=lambda job: job.index):
        key = review_key(job.outputs)
        decision = decisions.get(key)
        status = decision.status if decision is not None else "pending"
        if status != "approved":
            held.append(Held(key, job.label, status))
            continue
        if decision is not None and decision.take != job.take:
            # The approval is for another take than the images on disk: never deliver those.
            reason = f"take {decision.take} approved, but the folder holds take {job.take}"
            held.append(Held(key, job.label, f"{reason}; run the recipe to bring it up to date"))
            continue
        n = len(job.outputs)
        variant = decision.pick if decision is not None and decision.pick is not None else None
        if variant is None and n == 1:
            variant = 1
        if variant is None or not 1 <= variant <= n:
            reason = (
                "approved without a picked variant"
                if variant is None
                else f"approved with pick {variant}, but the job has {n} variants"
            )
            held.append(Held(key, job.label, reason))
            continue
        wanted = job.outputs[variant - 1]
        found = next((f for f in job.files if f.path == wanted), None)
        if found is None:
            held.append(Held(key, job.label, "approved, but its image is not downloaded"))
            continue
        picks.append(Pick(key, job, variant, found, job.take))
    return tuple(picks), tuple(held)
