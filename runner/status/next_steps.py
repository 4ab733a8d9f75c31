"""What to run next, from where a campaign stands: the commands, in the order they matter.

Runs come first (a plain run generates what was never run, retries failures, downloads what
was paid for and restores images changed on disk, all at once), then new takes of the rejected
jobs, then the review of the pending ones, then the export of the approved ones. A run the
budget would refuse is not offered: a note says what it would cost and what is left.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner.diagnostics import display_path
from runner.plan.fingerprints import FIELDS
from runner.shellwords import path_argument
from runner.status.standing import CampaignStatus, JobStanding, Step
from runner.status.trust import within_repository

_EPSILON = 1e-9  # sums of cents: exactly the budget left fits


@dataclass(frozen=True)
class CommandWords:
    """How the commands name the recipe and the folder: as the user would type them here."""

    recipe: str | None  # None: no recipe, so nothing can be run
    output_dir: str
    run_options: tuple[str, ...] = ()  # -o OUTDIR, --allow-outside ... for run

    @classmethod
    def of(
        cls, recipe: Path | None, output_dir: Path, run_options: Sequence[str] = ()
    ) -> CommandWords:
        shown = None if recipe is None else path_argument(display_path(recipe))
        return cls(shown, path_argument(display_path(output_dir)), tuple(run_options))

    def run(self, *extra: str) -> tuple[str, ...]:
        assert self.recipe is not None
        return ("backdrop", "run", self.recipe, *self.run_options, *extra)


def next_steps(status: CampaignStatus, words: CommandWords) -> tuple[tuple[Step, ...], list[str]]:
    """The steps to take now, and the notes that explain what no step can do."""
    steps: list[Step] = []
    notes: list[str] = []
    _runs(status, words, steps, notes)
    _review(status, words, steps, notes)
    _export(status, words, steps)
    return tuple(steps), notes


def _of(status: CampaignStatus, progress: str) -> list[JobStanding]:
    return [job for job in status.jobs if job.progress == progress]


def _cost(jobs: Sequence[JobStanding]) -> float:
    return round(sum(job.cost_usd for job in jobs), 4)


def _usd(amount: float) -> str:
    return f"${amount:,.2f}"


def _count(count: int, what: str = "job") -> str:
    return f"{count:,} {what}{'' if count == 1 else 's'}"


def _fits(status: CampaignStatus, cost: float) -> bool:
    left = status.budget_left_usd
    return left is None or cost <= left + _EPSILON


def _over_budget(status: CampaignStatus, what: str, cost: float) -> str:
    left = max(status.budget_left_usd or 0.0, 0.0)
    return (
        f"the budget does not allow it: {what} would cost {_usd(cost)}, and "
        f"{_usd(left)} of the {_usd(status.budget_usd or 0.0)} budget is left (estimates): raise "
        "`budget:` in the recipe to go on"
    )


def _runs(status: CampaignStatus, words: CommandWords, steps: list[Step], notes: list[str]) -> None:
    if status.run_in_progress is not None or status.shard_folder:
        return  # another run is refused until it ends; a shard's K/N is not known: notes say so
    if words.recipe is None:
        if any(_needs_a_run(job) for job in status.jobs):
            notes.append(
                "without its recipe nothing can be generated, downloaded or restored: put the "
                "recipe back to run it again"
            )
        return
    failed = _of(status, "failed")
    parts, cost = _plain_run(status)
    only_failed = bool(failed) and parts == [_retry(failed)]
    if parts and not only_failed:
        if _fits(status, cost):
            steps.append(Step(words.run(), "; ".join(parts) + _price(status, cost)))
        else:
            notes.append(_over_budget(status, "a run", cost))
        if status.stale_files:
            notes.append(
                f"{_count(status.stale_files, 'image')} backdrop wrote for jobs no longer in the "
                "recipe: add --prune to the run to delete them (it asks first)"
            )
    if failed:
        retry = _cost(failed)
        why = f"{_retry(failed)} ({_usd(retry)} estimated)"
        if _fits(status, retry):
            steps.append(
                Step(words.run("--retry-failed"), why if only_failed else f"or only {why}")
            )
        elif only_failed:
            notes.append(_over_budget(status, "retrying the failed jobs", retry))
    rejected = [job for job in status.jobs if job.review == "rejected"]
    if rejected:
        again = _cost(rejected)
        if _fits(status, again):
            takes = _count(len(rejected), "rejected job")
            why = f"generate a new take of {takes} ({_usd(again)} estimated)"
            steps.append(Step(words.run("--rejected"), why))
        else:
            notes.append(_over_budget(status, "new takes of the rejected jobs", again))
    if not parts and status.stale_files:
        images = _count(status.stale_files, "image")
        why = f"delete {images} backdrop wrote for jobs no longer in the recipe (it asks first)"
        steps.append(Step(words.run("--prune"), why))


def _needs_a_run(job: JobStanding) -> bool:
    return job.progress != "generated" or job.changed_on_disk or job.review == "rejected"


def _plain_run(status: CampaignStatus) -> tuple[list[str], float]:
    """What `backdrop run RECIPE` would do, part by part, and what it would cost."""
    not_run, failed, paid = _of(status, "not_run"), _of(status, "failed"), _of(status, "paid")
    on_disk = sum(job.changed_on_disk for job in status.jobs)
    from_lock = sum(job.from_lock for job in status.jobs)
    changed = [job for job in not_run if job.changed_fields]
    parts = []
    if len(changed) < len(not_run):
        parts.append(f"generate {_count(len(not_run) - len(changed))} not run yet")
    if changed:
        fields = changed_fields_of(changed)
        parts.append(f"generate again {_count(len(changed))} changed in the recipe ({fields})")
    if failed:
        parts.append(_retry(failed))
    if paid:
        parts.append(f"download {_count(len(paid), 'result')} already paid for")
    if on_disk:
        parts.append(f"restore the images of {_count(on_disk)}, changed or missing on disk")
    if from_lock:
        parts.append(f"take in {_count(from_lock)} that backdrop.lock records")
    return parts, _cost(not_run + failed)


def _retry(failed: Sequence[JobStanding]) -> str:
    return f"retry {_count(len(failed), 'failed job')}"


def _price(status: CampaignStatus, cost: float) -> str:
    if not cost:
        return " (nothing to pay)"
    free = any(
        job.progress == "paid" or job.changed_on_disk or job.from_lock for job in status.jobs
    )
    return f" ({_usd(cost)} estimated{'; the downloads are free' if free else ''})"


def changed_fields_of(jobs: Sequence[JobStanding]) -> str:
    """What changed in the recipe for these jobs, in plan --diff's order: "prompt, size"."""
    found = {name for job in jobs for name in job.changed_fields}
    return ", ".join(name for name in FIELDS if name in found)


def _review(
    status: CampaignStatus, words: CommandWords, steps: list[Step], notes: list[str]
) -> None:
    # A job known from a lock only, or with an image changed on disk, waits for the run first.
    pending = [
        job
        for job in status.jobs
        if job.review == "pending" and not job.from_lock and not job.changed_on_disk
    ]
    if status.problems:
        notes.append(
            f"review.yaml has {_count(len(status.problems), 'decision')} that review and export "
            "refuse (shown above): fix them in the file first"
        )
        return
    if not pending or not status.has_run:
        return
    unheld = sum(job.unheld for job in pending)
    why = f"decide on {_count(len(pending), 'pending job')}"
    if unheld:
        why += f" ({unheld:,} approved before on other images)"
    steps.append(Step(("backdrop", "review", words.output_dir), why))


def _export(status: CampaignStatus, words: CommandWords, steps: list[Step]) -> None:
    if status.problems or not status.has_run:
        return
    if any(job.review == "pending" and not job.from_lock for job in status.jobs):
        return  # decide first; an export now would leave them out
    approved = [job.review_key for job in status.jobs if job.delivers is not None]
    if not approved:
        return
    others = len(status.jobs) - len(approved)
    rest = f" ({_count(others, 'job')} not approved {'is' if others == 1 else 'are'} left out)"
    rest = rest if others else ""
    named = [d for d in status.deliveries if within_repository(d.to, status.output_dir)]
    usable = [d for d in named if d.manifest == "ours"]
    for delivery in usable:
        there = set(delivery.jobs)
        added = [key for key in approved if key not in there]
        if not (delivery.changed or added or delivery.missing_files):
            continue
        parts = []
        if delivery.changed:
            parts.append(f"{_count(len(delivery.changed))} changed since the export")
        if added:
            parts.append(f"{_count(len(added))} approved since")
        if delivery.missing_files and not delivery.changed:
            parts.append(f"{_count(delivery.missing_files, 'delivered file')} missing")
        why = f"update the delivery: {', '.join(parts)}{rest}"
        if not delivery.names_known:
            why += "; add the --name (or --group-by) you exported with: export does not record it"
        argv = (
            "backdrop",
            "export",
            words.output_dir,
            "--to",
            _shown(delivery.to),
            *delivery.options,
        )
        steps.append(Step(argv, why))
    if usable:
        return
    gone = [d for d in named if d.manifest == "missing"]
    to = _shown(gone[0].to) if gone else _default_delivery(status)
    why = f"deliver the {_count(len(approved), 'approved job')}{rest}"
    steps.append(Step(("backdrop", "export", words.output_dir, "--to", to), why))


def _shown(path: Path) -> str:
    return path_argument(display_path(path))


def _default_delivery(status: CampaignStatus) -> str:
    """delivery/NAME here, unless that is inside the output folder (then beside it)."""
    here = Path.cwd() / "delivery" / status.output_dir.name
    out = os.path.abspath(status.output_dir)
    if os.path.abspath(here).startswith(out + os.sep):
        here = status.output_dir.parent / f"{status.output_dir.name}-delivery"
    return _shown(here)
