"""Takes: a job generated again after its rejection is a new take, with a job key of its own.

Take 1 keeps the job's plain key, so that sets made before takes existed are unchanged; take K
hashes the plain key with K, so it is stable and never shares a state record with take 1.
The decisions come from review.yaml (runner/review/decisions.py): `run` reads each job's take
there, `run --rejected` asks for the next take of the rejected jobs, and once a new take is
downloaded the decision moves on (status pending, the old one kept in the take history).

The files of the take being replaced are kept under OUTDIR/.backdrop/takes/<take>/<output>,
hard-linked before the run (a download replaces a file by renaming over it, so the link keeps
the old image). Each output is replaced in place only once the new take's image is downloaded
and verified; a failed run leaves the old images where they were.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from runner.execute.adopt import lock_files
from runner.execute.kept_takes import take_path
from runner.plan.plan_model import Job, Plan
from runner.records.state import StateStore
from runner.review.decision_model import Decision, Review, review_key
from runner.review.decisions import set_decision


def take_key(key: str, take: int) -> str:
    """The job key of a take: the plain key for take 1, a hash of key and take after that."""
    if take <= 1:
        return key
    return hashlib.sha256(f"{key}#take{take}".encode()).hexdigest()


@dataclass(frozen=True)
class Retake:
    """A job asked for again: its key in review.yaml, its take now and the new one."""

    review_key: str
    previous_key: str
    previous_take: int
    job: Job  # the new take (its key and take number)


@dataclass(frozen=True)
class TakePlan:
    plan: Plan  # every job at its current take, and the retakes at their next one
    retakes: tuple[Retake, ...]
    protected: frozenset[str]  # approved jobs' keys: never generated again
    rejected: bool  # --rejected was given

    @property
    def keys(self) -> frozenset[str] | None:
        """The only jobs the run takes with --rejected; None: the whole selection."""
        if not self.rejected:
            return None
        return frozenset(retake.job.key for retake in self.retakes)


def plan_takes(
    plan: Plan, review: Review, *, rejected: bool = False, include_approved: bool = False
) -> TakePlan:
    """Apply review.yaml's takes to the plan; with `rejected`, the rejected jobs' next takes."""
    jobs: list[Job] = []
    retakes: list[Retake] = []
    protected: set[str] = set()
    for job in plan.jobs:
        key = review_key(job.outputs)
        decision: Decision = review.decision(key)
        current = dataclasses.replace(job, key=take_key(job.key, decision.take), take=decision.take)
        again = rejected and (
            decision.status == "rejected" or (include_approved and decision.status == "approved")
        )
        if again:
            take = decision.take + 1
            new = dataclasses.replace(job, key=take_key(job.key, take), take=take)
            retakes.append(Retake(key, current.key, decision.take, new))
            jobs.append(new)
            continue
        if decision.status == "approved" and not include_approved:
            protected.add(current.key)
        jobs.append(current)
    return TakePlan(
        dataclasses.replace(plan, jobs=tuple(jobs)), tuple(retakes), frozenset(protected), rejected
    )


def keep_previous_takes(output_dir: Path, retakes: tuple[Retake, ...]) -> int:
    """Keep each retake's current images (those the state says it wrote) under .backdrop/takes.

    The images are found by output path, from what the state (else backdrop.lock) recorded as
    written there: the
    previous take's job key is computed from the current recipe, so it changes when the prompt
    was fixed before regenerating, which is the usual reason for a retake.
    Returns how many files were kept. A file already kept is left alone, so that running
    again after a failed run never keeps a half-replaced take.
    """
    if not retakes:
        return 0
    with StateStore.open(output_dir) as state:
        written = {
            path: state.written_file(path) for retake in retakes for path in retake.job.outputs
        }
    # A fresh clone has no state yet, and a pulled lock may be newer than the state (another
    # machine's run): what either says backdrop wrote is backdrop's.
    in_lock = lock_files(output_dir)
    shas = {
        path: {record[0] if record else None, in_lock.get(path)} - {None}
        for path, record in written.items()
    }
    kept = 0
    for retake in retakes:
        for path in retake.job.outputs:
            source = output_dir / path
            target = output_dir / take_path(path, retake.previous_take)
            if target.exists() or not _same_file(source, shas.get(path, set())):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)
            kept += 1
    return kept


def settle_takes(output_dir: Path, retakes: tuple[Retake, ...]) -> tuple[Retake, ...]:
    """Move each fully downloaded retake's decision on to its new take (pending, history kept).

    A retake whose run failed keeps its decision (still rejected): the next `run --rejected`
    asks for the same take again, and downloads what was already paid for.
    """
    if not retakes:
        return ()
    with StateStore.open(output_dir) as state:
        states = state.job_states([r.job.key for r in retakes])
    settled = []
    for retake in retakes:
        done = states.get(retake.job.key)
        if done is None or done.status != "done":
            continue

        def advance(decision: Decision, retake: Retake = retake) -> Decision:
            # Someone else moved it on meanwhile (another run): leave their decision.
            return decision.next_take() if decision.take == retake.previous_take else decision

        set_decision(output_dir, retake.review_key, advance)
        settled.append(retake)
    return tuple(settled)


def _same_file(path: Path, sha256s: set[str | None]) -> bool:
    if not sha256s:
        return False
    with contextlib.suppress(OSError):
        return hashlib.sha256(path.read_bytes()).hexdigest() in sha256s
    return False
