"""`campaign_status`: where a campaign stands, read-only, and what to run next.

Everything is read, nothing written: not .backdrop/, not review.yaml. The state is opened
read-only (it never waits for a running `run`), and images are checked by a stat, not hashed.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Sequence
from pathlib import Path

from runner.diagnostics import display_path
from runner.plan.plan_model import Plan
from runner.recipe.model import DEFAULT_PRICES
from runner.records.spend import campaign_spend
from runner.records.state import StateStore
from runner.records.state_folder import SHARD_PREFIX, STATE_DIR
from runner.review.checks import decision_problems
from runner.review.decision_model import orphaned
from runner.review.decisions import load_review
from runner.review.retakes import plan_takes
from runner.status.deliveries import read_deliveries
from runner.status.next_steps import CommandWords, changed_fields_of, next_steps
from runner.status.standing import CampaignStatus
from runner.status.survey import Survey, survey_plan, survey_snapshot
from runner.status.trust import within_repository

_NAMED = 3  # orphaned decisions named in a note


def campaign_status(
    output_dir: Path,
    plan: Plan | None,
    *,
    recipe_found: bool = False,
    recipe_gone: str | None = None,
    recipe_refused: bool = False,
    run_options: Sequence[str] = (),
) -> CampaignStatus:
    """The status of output_dir; `plan`: its recipe's (None when the recipe is gone or unknown).

    `run_options`: what `backdrop run` needs beside the recipe to reach this folder (-o, ...).
    A damaged review.yaml raises ReviewFileError, a damaged state StateError, as in `review`.
    """
    output_dir = Path(output_dir)
    review = load_review(output_dir)
    if plan is not None:
        if any(decision.take > 1 for decision in review.decisions.values()):
            plan = plan_takes(plan, review).plan  # each job at its take, as `run` plans it
        survey = survey_plan(plan, review)
        spend = campaign_spend(output_dir, plan.prices, plan.jobs, plan.recipe_name)
        name, budget = plan.recipe_name, plan.budget
    elif StateStore.has_recorded_run(output_dir):
        snapshot = StateStore.read_snapshot(output_dir)
        survey = survey_snapshot(output_dir, snapshot, review)
        spend = campaign_spend(output_dir, DEFAULT_PRICES, (), snapshot.recipe_name)
        name, budget = snapshot.recipe_name, None
    else:
        survey = Survey((), False)
        spend = campaign_spend(output_dir, DEFAULT_PRICES)
        name, budget = output_dir.name, None
    status = CampaignStatus(
        recipe_name=name,
        recipe=None if plan is None else plan.recipe_path,
        recipe_gone=recipe_gone,
        recipe_found=recipe_found,
        output_dir=output_dir,
        has_run=survey.has_run,
        jobs=survey.jobs,
        deliveries=read_deliveries(output_dir, survey.jobs) if survey.has_run else (),
        spend=spend,
        budget_usd=budget,
        recipe_changed=survey.recipe_changed,
        removed=survey.removed,
        stale_files=survey.stale_files,
        orphaned=orphaned(review, (job.review_key for job in survey.jobs)) if survey.jobs else (),
        unanswered=StateStore.count_unanswered(output_dir) if survey.has_run else 0,
        run_in_progress=running_pid(output_dir),
        problems=tuple(decision_problems(output_dir, review, survey.variants)),
        shard_folder=output_dir.absolute().name.startswith(SHARD_PREFIX),
    )
    words = CommandWords.of(status.recipe, output_dir, run_options)
    steps, notes = next_steps(status, words)
    refused = [
        "the recipe the state of this folder names lies outside the project (the git repository "
        "holding the folder): it is not read; give the recipe: backdrop status RECIPE"
    ]
    told = (*(refused if recipe_refused else ()), *_notes(status, survey), *notes)
    return dataclasses.replace(status, steps=steps, notes=told)


def _notes(status: CampaignStatus, survey: Survey) -> list[str]:
    """What the counts alone do not say, and no step does."""
    notes = []
    if status.run_in_progress is not None:
        notes.append(
            f"a run (pid {status.run_in_progress}) is writing into this folder now: these "
            "figures are changing; run again once it ends (another run is refused until then)"
        )
    if status.shard_folder:
        parent = display_path(status.output_dir.absolute().parent)
        notes.append(
            f"this is one shard folder of {parent} (run --shard K/N): a run here would not know "
            f"its K/N; `backdrop status {parent}` shows the whole campaign"
        )
    if status.recipe_gone is not None:
        notes.append(
            f"the recipe this folder was run from, {status.recipe_gone}, is gone: the jobs are "
            "those of its last run; review and export work without it"
        )
    if survey.unreadable_lock:
        notes.append(
            "backdrop.lock cannot be read (backdrop verify says why); the next run rewrites it"
        )
    for folder in dict.fromkeys(folder for folder, _ in status.spend.unreadable):
        shown = display_path(folder)
        notes.append(
            f"the spend leaves out what {shown} records: its backdrop.lock or state cannot be "
            f"read (backdrop verify {shown} or backdrop report {shown} says why); a run with "
            "a budget is refused until it can be"
        )
    unheld = sum(job.unheld and not job.changed_on_disk for job in status.jobs)
    if unheld:
        notes.append(
            f"{unheld:,} approval(s) in review.yaml are not for the images in the folder "
            "(replaced since, or written without their sha256): they count as "
            "pending until approved again"
        )
    replaced = [job for job in status.jobs if job.approval_replaced]
    if replaced:
        fields = changed_fields_of(replaced)
        notes.append(
            f"{len(replaced):,} approved job(s) will get new images and go back to review: "
            f"the recipe changed ({fields})"
        )
    if status.orphaned:
        named = ", ".join(status.orphaned[:_NAMED]) + (
            ", ..." if len(status.orphaned) > _NAMED else ""
        )
        notes.append(
            f"review.yaml has {len(status.orphaned):,} decision(s) on jobs no longer in the recipe "
            f"({named}): they are kept; delete them from review.yaml if they are not needed"
        )
    if status.unanswered and status.run_in_progress is None:
        notes.append(
            f"{status.unanswered:,} generation(s) were sent by a run that stopped before the "
            "answer came: 1min.ai may have charged them (counted as spent); the next run lists "
            "them, compare with the usage in your 1min.ai dashboard"
        )
    for delivery in status.deliveries:
        if delivery.manifest == "changed":
            notes.append(
                f"{delivery.to / 'manifest.csv'} is not the one export wrote: what that delivery "
                "holds is not known, and an export there stops unless --overwrite"
            )
    return notes


def running_pid(output_dir: Path) -> int | None:
    """The pid a run holding the output folder wrote into its lock file, when that process is
    alive (POSIX only: elsewhere os.kill would end the process)."""
    if os.name != "posix":
        return None
    path = output_dir / STATE_DIR / "lock"
    try:  # a pid and a newline; a link to a device or a pipe in its place is not read
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as handle:
            text = handle.read(32).decode("ascii", errors="replace").strip()
    except (OSError, ValueError):
        return None
    if not text.isdigit() or len(text) > 10:
        return None
    pid = int(text)
    if pid <= 0 or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except PermissionError:
        return pid  # alive, run by another user
    except (OSError, OverflowError):
        return None  # gone: the run died (kill -9) and left its pid behind
    return pid


_BESIDE_MAX = 50  # recipe files looked at beside an out/ folder


def recipe_of(
    output_dir: Path, allowed: Sequence[Path] = ()
) -> tuple[Path | None, str | None, bool]:
    """The recipe output_dir was run from, as `export` finds it (the state records it); the
    recorded path when that file is gone; and whether a recorded recipe was refused.

    The state may come with a pull request: a recipe it names outside the git repository that
    holds the folder (or the --allow-outside folders) is not read, so that no file of the
    machine is planned and quoted in a diagnostic. Without a run recorded here (a fresh clone),
    the recipe whose default output folder this is (RECIPE_FOLDER/out/NAME), when one is.
    """
    output_dir = Path(output_dir)
    if not StateStore.has_recorded_run(output_dir):
        return _recipe_beside(output_dir), None, False
    recorded = StateStore.read_run_header(output_dir).recipe_path
    path = Path(recorded)
    if not within_repository(path, output_dir, allowed):
        return None, None, True
    if path.suffix.lower() in (".yaml", ".yml") and path.is_file():
        return path, None, False
    return None, display_path(path) if path.is_absolute() else recorded, False


def _recipe_beside(output_dir: Path) -> Path | None:
    from runner.diagnostics import BackdropError
    from runner.plan.planner import output_folder
    from runner.recipe.build import load_recipe

    folder = output_dir.absolute()
    if folder.parent.name != "out":
        return None
    try:
        candidates = sorted(
            path
            for path in folder.parent.parent.iterdir()
            if path.suffix.lower() in (".yaml", ".yml") and path.is_file()
        )[:_BESIDE_MAX]
    except OSError:
        return None
    found = []
    for path in candidates:
        try:
            recipe = load_recipe(path)
        except (BackdropError, OSError):
            continue
        if os.path.normcase(output_folder(recipe)) == os.path.normcase(folder):
            found.append(path)
    return found[0] if len(found) == 1 else None
