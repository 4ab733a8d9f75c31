"""`backdrop run RECIPE`: its options (grouped as run_settings.py's dataclasses) and the run itself.

The steps the run takes (confirmation, connection, reports, prune) are in run_steps.py.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from runner.commands.common import (
    FiniteFloat,
    PlanInputs,
    csv_separator_option,
    option_group,
    plan_options,
)
from runner.commands.run_settings import (
    ApiOptions,
    OutputOptions,
    PacingOptions,
    SafetyOptions,
    SelectionOptions,
)
from runner.diagnostics import UsageError

if TYPE_CHECKING:
    from runner.execute.run_options import RunOptions
    from runner.review.retakes import TakePlan

API_URL_DEFAULT = "https://api.1min.ai"
ASSET_URL_DEFAULT = "https://asset.1min.ai"
EMULATED_RPM = 1_000_000.0


if TYPE_CHECKING:
    _IntParam = click.ParamType[int | None]
else:  # click < 8.2 has no generic ParamType at run time
    _IntParam = click.ParamType


class _InFlight(_IntParam):
    """--concurrency: 'auto' (None) or a whole number from 1 to 512."""

    name = "auto|1-512"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | None:
        if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
            return None
        return int(click.IntRange(1, 512).convert(value, param, ctx))


api_options = option_group(
    ApiOptions,
    "api",
    click.option("--emulate", is_flag=True, help="Run against the local emulator (no key needed)."),
    click.option(
        "--api-url",
        envvar="ONEMIN_API_URL",
        default=API_URL_DEFAULT,
        show_default=True,
        help="API base URL (or ONEMIN_API_URL).",
    ),
    click.option(
        "--asset-url",
        envvar="ONEMIN_ASSET_URL",
        default=ASSET_URL_DEFAULT,
        show_default=True,
        help="Asset host for downloads (or ONEMIN_ASSET_URL).",
    ),
)

pacing_options = option_group(
    PacingOptions,
    "pacing",
    click.option(
        "--concurrency",
        "-j",
        type=_InFlight(),
        default=None,
        show_default="auto",
        help="Requests in flight at most. By default as many as the rate and the generation"
        " time call for (at most 512).",
    ),
    click.option(
        "--rpm",
        type=FiniteFloat(min=0, min_open=True),
        default=None,
        show_default="180, or 180/N with --shard K/N",
        help="API requests per minute, uploads and generations together. Shards share one"
        " account, so each takes its share unless --rpm is given. An --emulate run is not"
        " paced unless --rpm is given.",
    ),
    click.option(
        "--max-attempts",
        type=click.IntRange(min=1),
        default=5,
        show_default=True,
        help="Tries per request on timeouts, 429 and 5xx.",
    ),
    click.option(
        "--timeout",
        type=FiniteFloat(min=1),
        default=600,
        show_default=True,
        help="Seconds to wait for one generation.",
    ),
    click.option(
        "--drain-timeout",
        type=FiniteFloat(min=0),
        metavar="SECONDS",
        help="After Ctrl-C, SIGTERM or SIGHUP, wait at most this long for the answers in flight "
        "(default: as long as they take).",
    ),
)

selection_options = option_group(
    SelectionOptions,
    "selection",
    click.option(
        "--force",
        is_flag=True,
        help="Generate every selected job again, even done ones (not approved ones).",
    ),
    click.option("--retry-failed", is_flag=True, help="Run only the jobs that failed last time."),
    click.option(
        "--rejected",
        is_flag=True,
        help="Generate a new take of each job rejected in review.yaml, and nothing else.",
    ),
    click.option(
        "--include-approved",
        is_flag=True,
        help="Let --force and --rejected generate approved jobs again too.",
    ),
    click.option(
        "--only",
        multiple=True,
        metavar="KEY=VALUE",
        help="Only jobs whose matrix value matches, e.g. season=spring or market.code=fr-FR.",
    ),
    click.option("--limit", type=click.IntRange(min=1), help="Only the first N selected jobs."),
    click.option(
        "--shard", metavar="K/N", help="Only the K-th of N deterministic slices of the jobs."
    ),
)

safety_options = option_group(
    SafetyOptions,
    "safety",
    click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation."),
    click.option(
        "--confirm-over",
        type=FiniteFloat(min=0),
        default=5.0,
        show_default=True,
        metavar="USD",
        help="Ask before spending more than this (estimate).",
    ),
    click.option(
        "--prune",
        is_flag=True,
        help="Delete the images earlier runs wrote for jobs the recipe no longer has.",
    ),
)

output_options = option_group(
    OutputOptions,
    "output",
    click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "github"]),
        default="text",
        help="github: GitHub Actions annotations and job summary (also when GITHUB_ACTIONS=true).",
    ),
    csv_separator_option,
)


@click.command()
@click.argument("recipe", type=click.Path())
@plan_options
@api_options
@pacing_options
@selection_options
@safety_options
@output_options
def run(
    recipe: str,
    inputs: PlanInputs,
    api: ApiOptions,
    pacing: PacingOptions,
    selection: SelectionOptions,
    safety: SafetyOptions,
    output: OutputOptions,
) -> None:
    """Run a recipe: upload, generate and download every job, then write the reports."""
    from contextlib import ExitStack

    from runner.commands import run_steps, terminal
    from runner.commands.common import load_plan
    from runner.commands.github_output import report_run
    from runner.execute.budget import BudgetExceeded
    from runner.execute.run_plan import RunAbandoned, run_plan
    from runner.review.retakes import keep_previous_takes, settle_takes

    _refuse_conflicts(selection)
    takes = run_steps.takes(
        load_plan(recipe, inputs), selection.rejected, selection.include_approved
    )
    the_plan = takes.plan
    key = None if api.emulate else run_steps.api_key()  # a bad key is refused before anything
    options = _run_options(pacing, selection, takes, api.emulate)
    _, replaced = run_steps.preview_and_confirm(
        the_plan, options, api.emulate, safety, again=_again(selection)
    )
    with ExitStack() as stack:
        api_key, api_url, asset_url = run_steps.connect(stack, api, the_plan.output_dir, key)
        keep_previous_takes(the_plan.output_dir, takes.retakes)
        events = terminal.run_events()
        stack.enter_context(events)
        try:
            result = run_plan(
                the_plan,
                options,
                api_key=api_key,
                base_url=api_url,
                asset_base_url=asset_url,
                events=events,
            )
        except BudgetExceeded:
            raise  # checked again under the lock: nothing was sent, nothing to report
        except RunAbandoned as abandoned:
            # Caught here: click would turn a KeyboardInterrupt into a bare "Aborted.".
            run_steps.release_replaced(the_plan.output_dir, replaced)
            run_steps.write_reports_if_any(the_plan.output_dir, output.csv_separator)
            sys.exit(terminal.show_abandoned(abandoned))
        except BaseException:
            # Whatever stopped the run, what it finished is in the state: report it, and
            # send back to review the decisions whose images it replaced.
            run_steps.release_replaced(the_plan.output_dir, replaced)
            run_steps.write_reports_if_any(the_plan.output_dir, output.csv_separator)
            raise
    settle_takes(the_plan.output_dir, takes.retakes)
    run_steps.release_replaced(the_plan.output_dir, replaced)
    if result.fatal is not None:
        # The run stopped for a reason of its own (a full disk, say): that is what to show.
        paths = run_steps.write_reports_if_any(the_plan.output_dir, output.csv_separator)
    else:
        paths = run_steps.write_reports(the_plan.output_dir, output.csv_separator)
    if safety.prune and paths is not None and not result.stopped:  # not after a stop signal
        run_steps.prune(the_plan.output_dir, safety.yes)
    terminal.show_run_summary(result, paths, emulated=api.emulate)
    # What the run generated, not what it planned: failed and skipped jobs cost nothing.
    cost = None if api.emulate else result.generated_cost_usd  # a rehearsal spends nothing
    report_run(output.fmt, recipe, the_plan.output_dir, result, cost)
    sys.exit(terminal.run_exit_code(result))


def _again(selection: SelectionOptions) -> str:
    """Why a job generated again under the same request loses its decision."""
    flags = ["--force"] if selection.force else []
    if selection.include_approved:
        flags.append("--include-approved")
    return "generated again: " + " ".join(flags) if flags else "generated again"


def _refuse_conflicts(selection: SelectionOptions) -> None:
    if selection.force and selection.retry_failed:
        raise UsageError("--force and --retry-failed do not go together", hint="choose one")
    if selection.rejected and selection.retry_failed:
        raise UsageError("--rejected and --retry-failed do not go together", hint="choose one")


def _run_options(
    pacing: PacingOptions, selection: SelectionOptions, takes: TakePlan, emulate: bool
) -> RunOptions:
    import dataclasses

    from runner.api.timeouts import Timeouts
    from runner.execute.run_options import RunOptions
    from runner.execute.selection import Selection

    return RunOptions(
        concurrency=pacing.concurrency,
        # A local rehearsal has no rate limit to respect: pacing it would only make it slow.
        rpm=EMULATED_RPM if pacing.rpm is None and emulate else pacing.rpm,
        drain_timeout=pacing.drain_timeout,
        max_attempts=pacing.max_attempts,
        timeouts=dataclasses.replace(Timeouts(), generate=pacing.timeout),
        selection=Selection.from_cli(selection.only, selection.limit, selection.shard),
        force=selection.force,
        retry_failed=selection.retry_failed,
        keys=takes.keys,
        protected=takes.protected,
    )
