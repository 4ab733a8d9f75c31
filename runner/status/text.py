"""`backdrop status` for people: where the campaign stands, then what to run next."""

from __future__ import annotations

from collections.abc import Sequence

from runner.diagnostics import display_path
from runner.printable import one_line
from runner.status.next_steps import changed_fields_of
from runner.status.standing import CampaignStatus, ReviewStatus

_LISTED = 5  # review keys named per line


def status_lines(status: CampaignStatus) -> list[str]:
    lines = [*_heading(status), *_jobs(status), *_money(status)]
    for problem in status.problems:
        lines.extend(problem.render().splitlines())
    lines.extend(f"note: {note}" for note in status.notes)
    lines.extend(_next(status))
    return lines


def _count(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _heading(status: CampaignStatus) -> list[str]:
    if status.recipe is not None:
        found = " (the recipe this folder was run from)" if status.recipe_found else ""
        recipe = f"{display_path(status.recipe)}{found}"
    elif status.recipe_gone is not None:
        recipe = f"{status.recipe_gone} (gone)"
    else:
        recipe = "not known: no run is recorded in this folder (give the recipe instead)"
    return [
        f"Campaign: {one_line(status.recipe_name)}",
        f"Recipe: {one_line(recipe)}",
        f"Output folder: {one_line(display_path(status.output_dir))}",
    ]


def _keys(what: str, keys: Sequence[str]) -> list[str]:
    if not keys:
        return []
    shown = ", ".join(one_line(key) for key in keys[:_LISTED])
    more = f" and {len(keys) - _LISTED:,} more" if len(keys) > _LISTED else ""
    return [f"  {what}: {shown}{more}"]


def _jobs(status: CampaignStatus) -> list[str]:
    total = len(status.jobs)
    where = "in the recipe" if status.recipe is not None else "in the last run"
    if not status.jobs:
        return ["Jobs: none known"] if status.recipe is None else [f"Jobs {where}: 0"]
    generated = status.count("generated")
    if not generated and not status.has_run:
        images = sum(len(job.outputs) for job in status.jobs)
        cost = sum(job.cost_usd for job in status.jobs)
        return [
            f"Nothing generated yet: {_count(total, 'job')} {where}, "
            f"{_count(images, 'image')}, ${cost:,.2f} estimated"
        ]
    counts = [f"{generated:,} generated"]
    if status.count("paid"):
        counts.append(f"{status.count('paid'):,} paid for, not downloaded")
    counts.append(f"{status.count('failed'):,} failed")
    counts.append(f"{status.count('not_run'):,} not run")
    lines = [f"Jobs: {total:,} {where}; {', '.join(counts)}"]
    changed = status.changed
    if changed:
        fields = changed_fields_of(status.jobs)
        lines.append(
            f"  {_count(len(changed), 'job')} changed in the recipe since generated ({fields})"
        )
    if status.removed:
        lines.append(f"  {_count(status.removed, 'job')} of the last run no longer in the recipe")
    on_disk = status.review_keys(changed_on_disk=True)
    if on_disk:
        lines.append(f"  {_count(len(on_disk), 'job')} with images changed or missing on disk")
    from_lock = status.review_keys(from_lock=True)
    if from_lock:
        lines.append(
            f"  {_count(len(from_lock), 'job')} known from backdrop.lock only "
            "(a run takes them in without paying)"
        )
    lines += _keys("failed", status.review_keys(progress="failed"))
    decided: tuple[ReviewStatus, ...] = ("approved", "rejected", "pending")
    counts = [f"{status.reviewed(s):,} {s}" for s in decided]
    undecidable = sum(job.review is None for job in status.jobs)
    if undecidable:  # so that the counts add up to the jobs: these have no images to decide on
        counts.append(f"{undecidable:,} with no images yet")
    lines.append("Review: " + ", ".join(counts))
    lines += _keys("rejected", status.review_keys(review="rejected"))
    lines += _keys("pending", status.review_keys(review="pending"))
    lines += _deliveries(status)
    return lines


def _deliveries(status: CampaignStatus) -> list[str]:
    if not status.deliveries:
        return ["Exported: none yet"]
    changed = status.changed_since_export
    lines = [f"Exported: {len(status.exported):,}, {len(changed):,} changed since the export"]
    for delivery in status.deliveries:
        where = one_line(display_path(delivery.to))
        if delivery.manifest == "ours":
            detail = f"{_count(len(delivery.jobs), 'job')}, {len(delivery.changed):,} changed since"
            if delivery.missing_files:
                detail += f", {_count(delivery.missing_files, 'delivered file')} missing"
        elif delivery.manifest == "missing":
            detail = "its manifest.csv is gone"
        else:
            detail = "its manifest.csv was changed since the export"
        lines.append(f"  to {where}: {detail}")
    order = [key for key in status.review_keys() if key in changed]
    lines += _keys("changed since the export", order)
    return lines


def _money(status: CampaignStatus) -> list[str]:
    spend = status.spend
    text = f"Spent so far: ${spend.spent_usd:,.2f}"
    if spend.maybe_charged:
        text += f" + ${spend.maybe_charged_usd:,.2f} maybe charged"
    text += " (estimates from list prices)"
    if status.budget_usd is not None:
        left = status.budget_left_usd or 0.0
        if left > 0:
            text += f"; budget ${status.budget_usd:,.2f}: ${left:,.2f} left"
        else:
            over = f", ${-left:,.2f} over" if left < 0 else ""
            text += f"; budget ${status.budget_usd:,.2f}: all spent{over}"
    return [text]


def _next(status: CampaignStatus) -> list[str]:
    if not status.steps:
        done = status.jobs and all(job.review == "approved" for job in status.jobs)
        if done and status.exported and not status.changed_since_export:
            return ["Next: nothing to do: every job is approved and exported."]
        return ["Next: nothing to run" + (" (see the notes above)." if status.notes else ".")]
    lines = ["Next:"]
    for step in status.steps:
        lines.append(f"  {step.command}")
        lines.append(f"      {step.why}")
    return lines
