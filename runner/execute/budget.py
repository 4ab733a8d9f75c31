"""The campaign budget: what the campaign has cost so far, and whether a run still fits.

Everything here is an estimate from the plan's price table, as the money guard's is: the states
and locks know which generations were charged, or may have been, and what they asked (quality,
size, n), not the bill. What counts as spent is records/spend.py's: every folder of the campaign
(shard folders, a fresh clone's committed locks), maybe-charged generations included.

A `--shard K/N` run is checked for the whole campaign: its own part, and what the other shards
still have to generate with the same options. The shards of examples/github/run.yml run at the
same time on machines that cannot see each other; only then can their sum not pass the budget.

The run checks again once it holds the output folder's lock (run.py): another run may have
spent while this one waited at "Spend it?".

A lock or a state of the campaign that cannot be read records spending that cannot be counted:
the budget is then not checked but refused, with that file's own error (a lock's mistakes at
backdrop.lock:LINE:COL, exit 2; a damaged state, exit 3), rather than let the run pass it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.diagnostics import (
    BackdropError,
    RecipeError,
    StateError,
    UsageError,
    display_path,
)
from runner.execute.preview import preview_run
from runner.execute.run_options import RunOptions
from runner.execute.selection import Shard, select_jobs, value_text
from runner.plan.plan_model import Job, Plan
from runner.recipe.model import PriceTable
from runner.records.spend import Spend, campaign_spend, read_campaign

if TYPE_CHECKING:
    from runner.execute.adopt import LockFiles

_EPSILON = 1e-9  # float sums of cents: "exactly the budget" must fit
_ONLY_SHOWN = 3


class BudgetExceeded(UsageError):
    """The run would take the campaign past its recipe's `budget:` (exit 2)."""


@dataclass(frozen=True)
class BudgetStatus:
    budget: float
    spent: float  # estimated cost of every generation charged, in every folder of the campaign
    this_run: float  # estimated cost of what the run would generate
    maybe_charged: float = 0.0  # generations that got no answer: counted as spent
    other_shards: float = 0.0  # what the other shards of a --shard K/N run still generate

    @property
    def remaining(self) -> float:
        return self.budget - self.spent - self.maybe_charged

    @property
    def over(self) -> float:
        """How far past the budget the run would take the campaign (0 or less: it fits)."""
        return self.spent + self.maybe_charged + self.this_run + self.other_shards - self.budget

    @property
    def fits(self) -> bool:
        return self.over <= _EPSILON


def spent_usd(output_dir: Path, prices: PriceTable) -> float:
    """Estimated cost of every generation the campaign of `output_dir` records, maybe charged
    ones included (0 without any state or lock)."""
    return campaign_spend(output_dir, prices).total_usd


def job_cost(plan: Plan, job: Job) -> float:
    po = job.prompt_object
    return po.n * plan.prices.price(po.quality, po.size)


def budget_status(
    plan: Plan, to_generate: Sequence[Job], others: Sequence[Job] = ()
) -> BudgetStatus | None:
    """None when the recipe sets no budget. `others`: what the other shards still generate."""
    if plan.budget is None:
        return None
    spend: Spend = campaign_spend(plan.output_dir, plan.prices, plan.jobs, plan.recipe_name)
    if spend.unreadable:
        raise _uncountable(*spend.unreadable[0])
    return BudgetStatus(
        plan.budget,
        spend.spent_usd,
        round(sum(job_cost(plan, job) for job in to_generate), 4),
        spend.maybe_charged_usd,
        round(sum(job_cost(plan, job) for job in others), 4),
    )


def _uncountable(folder: Path, error: BackdropError) -> BackdropError:
    """The error of a record the budget cannot count, said as the budget's."""
    why = "the budget counts what every folder of this campaign records"
    if isinstance(error, RecipeError):  # a lock's mistakes, each at its line: kept as they are
        told = list(error.diagnostics())
        first = told[0]
        hint = f"{why}, so this file must be readable: {first.hint}" if first.hint else why
        return RecipeError([dataclasses.replace(first, hint=hint), *told[1:]])
    why = f"{why}, and what {display_path(folder)} records cannot be read"
    if isinstance(error, StateError):
        return StateError(f"{why}: {error.message}", error.hint)
    return UsageError(f"{why}: {error.message}", hint=error.hint)


def plan_budget_status(plan: Plan, files: LockFiles | None = None) -> BudgetStatus | None:
    """For `plan`: the budget against what the whole plan still has to generate (`files`: the
    command's LockFiles, so that the images its comparison checked are not checked again)."""
    if plan.budget is None:
        return None
    from runner.execute.run_options import RunOptions

    return budget_status(plan, preview_run(plan, RunOptions(), files).to_generate)


def other_shards_jobs(plan: Plan, options: RunOptions) -> tuple[Job, ...]:
    """The jobs the other shards of a `--shard K/N` run would generate with the same options:
    those no folder of the campaign has done or paid for (or all, with --force)."""
    shard = options.selection.shard
    if shard is None or shard.count == 1:
        return ()
    records = read_campaign(plan.output_dir, plan.recipe_name)
    settled = set(records.paid_jobs)
    jobs: list[Job] = []
    for index in range(1, shard.count + 1):
        if index == shard.index:
            continue
        selection = dataclasses.replace(options.selection, shard=Shard(index, shard.count))
        failed = records.failed if options.retry_failed else None
        for job in select_jobs(plan.jobs, selection, failed_keys=failed, keys=options.keys):
            forced = options.force and job.key not in options.protected
            if forced or job.key not in settled:
                jobs.append(job)
    return tuple(jobs)


def recheck_budget(plan: Plan, options: RunOptions) -> None:
    """The check again, under the output folder's lock: raise BudgetExceeded when what other
    runs spent since this one was previewed (and confirmed) leaves it no room."""
    if plan.budget is None:
        return

    preview = preview_run(plan, options)
    others = other_shards_jobs(plan, options)
    status = budget_status(plan, preview.to_generate, others)
    check_budget(plan, status, preview.selected, preview.to_generate, others, rechecked=True)


def check_budget(
    plan: Plan,
    status: BudgetStatus | None,
    selected: Sequence[Job],
    to_generate: Sequence[Job],
    others: Sequence[Job] = (),
    *,
    rechecked: bool = False,
) -> None:
    """Raise BudgetExceeded when the run would take the campaign past its budget, saying what
    fits (for a shard run: what fits for all the shards, which run with the same options)."""
    if status is None or status.fits:
        return
    remaining = max(status.remaining, 0.0)
    spent = f"${status.spent:,.2f} already spent"
    if status.maybe_charged:
        spent += f" and ${status.maybe_charged:,.2f} maybe charged"
    shards = f", ${status.other_shards:,.2f} for the other shards" if status.other_shards else ""
    message = (
        f"this run would take the estimated spend of this output folder past its budget of "
        f"${status.budget:,.2f} by ${status.over:,.2f} ({spent}, "
        f"${status.this_run:,.2f} for this run{shards})"
    )
    if rechecked:
        message = f"checked again once the output folder was locked: {message}"
    if others:  # --limit N takes N jobs in each shard: only --only can be said for them all
        hints = _what_fits(plan, (), (*to_generate, *others), remaining)
    else:
        hints = _what_fits(plan, selected, to_generate, remaining)
    hint = (
        f"run a part that fits in the ${remaining:,.2f} left ({'; '.join(hints)}), "
        "or raise `budget:` in the recipe"
        if hints
        else f"nothing selected fits in the ${remaining:,.2f} left; raise `budget:` in the recipe"
    )
    if status.other_shards:
        hint += "; a --shard K/N run is checked for all N shards together, as they may run at once"
    raise BudgetExceeded(message, hint=hint)


def _leaves(node: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    """(dotted key, value as --only takes it) for each plain matrix value of a job."""
    for name, value in node.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            yield from _leaves(value, key + ".")
        elif not isinstance(value, list):
            yield key, value_text(value)


def _what_fits(
    plan: Plan, selected: Sequence[Job], to_generate: Sequence[Job], remaining: float
) -> list[str]:
    paid = {job.key for job in to_generate}
    total, limit = 0.0, 0
    for count, job in enumerate(selected, start=1):
        if job.key in paid:
            total += job_cost(plan, job)
            if total > remaining + _EPSILON:
                break
        limit = count
    hints = [f"--limit {limit}"] if limit and any(j.key in paid for j in selected[:limit]) else []
    # --only KEY=VALUE: the matrix values whose jobs fit, the most work first.
    by_value: dict[tuple[str, str], float] = {}
    for job in to_generate:
        for key, value in _leaves(job.vars, ""):
            by_value[(key, value)] = by_value.get((key, value), 0.0) + job_cost(plan, job)
    fitting = sorted(
        (item for item in by_value.items() if item[1] <= remaining + _EPSILON),
        key=lambda item: (-item[1], item[0]),
    )
    hints += [f"--only {key}={value} (${usd:,.2f})" for (key, value), usd in fitting[:_ONLY_SHOWN]]
    return hints
