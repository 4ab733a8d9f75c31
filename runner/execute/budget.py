"""The campaign budget: what this output folder has cost so far, and whether a run still fits.

Everything here is an estimate from the plan's price table, as the money guard's is: the state
knows which jobs the API charged for and what they asked (quality, size, n), not the bill.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.diagnostics import UsageError
from runner.execute.selection import value_text
from runner.execute.state import StateStore
from runner.plan.model import Job, Plan
from runner.recipe.model import PriceTable

_EPSILON = 1e-9  # float sums of cents: "exactly the budget" must fit
_ONLY_SHOWN = 3


@dataclass(frozen=True)
class BudgetStatus:
    budget: float
    spent: float  # estimated cost of every generation the state records
    this_run: float  # estimated cost of what the run would generate

    @property
    def remaining(self) -> float:
        return self.budget - self.spent

    @property
    def over(self) -> float:
        """How far past the budget the run would take the folder (0 or less: it fits)."""
        return self.spent + self.this_run - self.budget

    @property
    def fits(self) -> bool:
        return self.over <= _EPSILON


def spent_usd(output_dir: Path, prices: PriceTable) -> float:
    """Estimated cost of every generation recorded in the folder's state (0 without a state)."""
    paid = StateStore.read_paid_prompt_objects(output_dir)  # read-only: plan must not write
    total = 0.0
    for po in paid:
        try:
            total += int(po["n"]) * prices.price(str(po["quality"]), str(po["size"]))
        except (KeyError, TypeError, ValueError):
            continue  # a record without a usable promptObject: nothing to estimate
    return round(total, 4)


def job_cost(plan: Plan, job: Job) -> float:
    po = job.prompt_object
    return po.n * plan.prices.price(po.quality, po.size)


def budget_status(plan: Plan, to_generate: Sequence[Job]) -> BudgetStatus | None:
    """None when the recipe sets no budget."""
    if plan.budget is None:
        return None
    this_run = round(sum(job_cost(plan, job) for job in to_generate), 4)
    return BudgetStatus(plan.budget, spent_usd(plan.output_dir, plan.prices), this_run)


def plan_budget_status(plan: Plan) -> BudgetStatus | None:
    """For `plan`: the budget against what the whole plan still has to generate."""
    if plan.budget is None:
        return None
    from runner.execute.preview import preview_run
    from runner.execute.run import RunOptions

    return budget_status(plan, preview_run(plan, RunOptions()).to_generate)


def check_budget(
    plan: Plan, status: BudgetStatus | None, selected: Sequence[Job], to_generate: Sequence[Job]
) -> None:
    """Raise UsageError when the run would take the folder past its budget, saying what fits."""
    if status is None or status.fits:
        return
    remaining = max(status.remaining, 0.0)
    message = (
        f"this run would take the estimated spend of this output folder past its budget of "
        f"${status.budget:,.2f} by ${status.over:,.2f} (${status.spent:,.2f} already spent, "
        f"${status.this_run:,.2f} for this run)"
    )
    hints = _what_fits(plan, selected, to_generate, remaining)
    hint = (
        f"run a part that fits in the ${remaining:,.2f} left ({'; '.join(hints)}), "
        "or raise `budget:` in the recipe"
        if hints
        else f"nothing selected fits in the ${remaining:,.2f} left; raise `budget:` in the recipe"
    )
    raise UsageError(message, hint=hint)


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
