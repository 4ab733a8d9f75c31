"""What `backdrop status` finds: each job's standing, the deliveries, the spending, what is next."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from runner.diagnostics import Diagnostic, display_path
from runner.records.spend import Spend
from runner.shellwords import command_line

Progress = Literal["generated", "paid", "failed", "not_run"]
ReviewStatus = Literal["approved", "rejected", "pending"]
FORMAT_VERSION = 1  # of the JSON (schemas/status.schema.json)


@dataclass(frozen=True)
class JobStanding:
    """Where one job of the recipe stands: generated or not, decided or not, what it delivers."""

    review_key: str  # its key in review.yaml: the output path without extension
    label: str
    vars: Mapping[str, Any]
    outputs: tuple[str, ...]
    # generated: its images are in the folder (or a backdrop.lock has them: from_lock); paid: the
    # API answered, the images are not downloaded yet; failed: its last run failed, unpaid;
    # not_run: never generated with this request.
    progress: Progress
    cost_usd: float  # what generating it (again) would cost, at list prices
    from_lock: bool = False  # generated, as a backdrop.lock records it: the state does not know it
    changed_on_disk: bool = False  # generated, but an image is missing or not as written
    changed_fields: tuple[str, ...] = ()  # not_run: it was generated with another request
    review: ReviewStatus | None = None  # None: it has no images to decide on
    unheld: bool = False  # approved in review.yaml, but not for the images in the folder
    without_pick: bool = False  # approved without the variant to deliver (n > 1)
    approval_replaced: bool = False  # approved, and the next run gives it new images
    delivers: str | None = None  # the SHA-256 of the image export would deliver for it


@dataclass(frozen=True)
class Delivery:
    """One folder export delivered into, as OUTDIR/.backdrop/exports.json and its manifest say."""

    to: Path
    manifest: Literal["ours", "changed", "missing"]  # ours: exactly what export wrote there
    jobs: tuple[str, ...]  # review keys of the jobs delivered there
    changed: tuple[str, ...]  # of those, the ones export would now deliver otherwise (or not)
    missing_files: int  # delivered files (or zips) no longer there
    options: tuple[str, ...]  # export options that give the same names (--zip, --format ...)
    names_known: bool  # False: it was exported with a --name that cannot be told again


@dataclass(frozen=True)
class Step:
    """A command to run next, and why."""

    argv: tuple[str, ...]
    why: str

    @property
    def command(self) -> str:
        """The command to paste into this machine's shell, each argument quoted for it."""
        return command_line(self.argv)

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "argv": list(self.argv), "why": self.why}


@dataclass(frozen=True)
class CampaignStatus:
    recipe_name: str
    recipe: Path | None  # the recipe planned; None when it is gone or not known
    recipe_gone: str | None  # the recipe the folder was run from, when that file is missing
    recipe_found: bool  # the recipe was found from the output folder (not given)
    output_dir: Path
    has_run: bool  # a run is recorded in the folder's state
    jobs: tuple[JobStanding, ...]  # the recipe's jobs (without a recipe: the latest run's)
    deliveries: tuple[Delivery, ...]
    spend: Spend
    budget_usd: float | None
    recipe_changed: bool  # the latest run planned other jobs than the recipe gives now
    removed: int  # jobs of the latest run the recipe no longer has
    stale_files: int  # images backdrop wrote for jobs the recipe no longer has
    orphaned: tuple[str, ...]  # decisions in review.yaml on jobs the recipe no longer has
    unanswered: int  # generations sent whose answer has not come (yet): maybe charged
    run_in_progress: int | None  # the pid of a run writing into the folder now
    problems: tuple[Diagnostic, ...]  # review.yaml decisions review and export refuse
    shard_folder: bool = False  # a shard-K folder of `run --shard K/N -o OUT/shard-K`
    notes: tuple[str, ...] = ()
    steps: tuple[Step, ...] = ()

    def count(self, progress: Progress) -> int:
        return sum(job.progress == progress for job in self.jobs)

    def reviewed(self, status: ReviewStatus) -> int:
        return sum(job.review == status for job in self.jobs)

    def review_keys(self, **where: object) -> list[str]:
        """Review keys of the jobs whose fields have these values, in plan order."""
        return [
            job.review_key
            for job in self.jobs
            if all(getattr(job, name) == value for name, value in where.items())
        ]

    @property
    def changed(self) -> list[str]:
        return [job.review_key for job in self.jobs if job.changed_fields]

    @property
    def exported(self) -> set[str]:
        return {key for delivery in self.deliveries for key in delivery.jobs}

    @property
    def changed_since_export(self) -> set[str]:
        return {key for delivery in self.deliveries for key in delivery.changed}

    @property
    def budget_left_usd(self) -> float | None:
        if self.budget_usd is None:
            return None
        return round(self.budget_usd - self.spend.total_usd, 4)

    def to_json(self) -> dict[str, Any]:
        changed_export = self.changed_since_export
        return {
            "format_version": FORMAT_VERSION,
            "recipe": None if self.recipe is None else display_path(self.recipe),
            "recipe_name": self.recipe_name,
            "recipe_found": self.recipe_found,
            "recipe_gone": self.recipe_gone,
            "output_dir": display_path(self.output_dir),
            "has_run": self.has_run,
            "shard_folder": self.shard_folder,
            "jobs": len(self.jobs),
            "generated": self.count("generated"),
            "failed": self.count("failed"),
            "not_run": self.count("not_run"),
            "paid_not_downloaded": self.count("paid"),
            "from_lock": len(self.review_keys(from_lock=True)),
            "changed_on_disk": len(self.review_keys(changed_on_disk=True)),
            "changed_in_recipe": len(self.changed),
            "recipe_changed": self.recipe_changed,
            "removed_from_recipe": self.removed,
            "stale_files": self.stale_files,
            "approved": self.reviewed("approved"),
            "rejected": self.reviewed("rejected"),
            "pending": self.reviewed("pending"),
            "approvals_unheld": len(self.review_keys(unheld=True)),
            "approvals_without_pick": len(self.review_keys(without_pick=True)),
            "approvals_replaced": len(self.review_keys(approval_replaced=True)),
            "orphaned_decisions": list(self.orphaned),
            "exported": len(self.exported),
            "changed_since_export": len(changed_export),
            "deliveries": [
                {
                    "to": display_path(delivery.to),
                    "manifest": delivery.manifest,
                    "jobs": len(delivery.jobs),
                    "changed_since_export": len(delivery.changed),
                    "missing_files": delivery.missing_files,
                }
                for delivery in self.deliveries
            ],
            "spent_usd": self.spend.total_usd,
            "maybe_charged_usd": self.spend.maybe_charged_usd,
            "maybe_charged": self.spend.maybe_charged,
            "budget_usd": self.budget_usd,
            "budget_left_usd": self.budget_left_usd,
            "unanswered": self.unanswered,
            "run_in_progress": self.run_in_progress is not None,
            "problems": [problem.to_json() for problem in self.problems],
            "lists": {
                "failed": self.review_keys(progress="failed"),
                "not_run": self.review_keys(progress="not_run"),
                "paid_not_downloaded": self.review_keys(progress="paid"),
                "changed_on_disk": self.review_keys(changed_on_disk=True),
                "changed_in_recipe": self.changed,
                "rejected": self.review_keys(review="rejected"),
                "pending": self.review_keys(review="pending"),
                "changed_since_export": [k for k in self.review_keys() if k in changed_export],
            },
            "notes": list(self.notes),
            "next": [step.command for step in self.steps],
            "steps": [step.to_json() for step in self.steps],
        }
