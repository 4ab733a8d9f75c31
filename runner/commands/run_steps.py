"""The steps of `backdrop run` around run_plan: takes, the spend check, the connection, reports."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner.diagnostics import EXIT_JOBS_FAILED, EXIT_OK, BackdropError, UsageError

if TYPE_CHECKING:
    from contextlib import ExitStack

    from runner.commands.run_settings import ApiOptions, SafetyOptions
    from runner.execute.preview import RunPreview
    from runner.execute.run_options import RunOptions
    from runner.plan.diff import DecisionReplaced
    from runner.plan.plan_model import Plan
    from runner.review.retakes import TakePlan

# Rehearsal credits: enough for thousands of full demo runs, still shown as "credits left".
EMULATED_CREDITS = 1_000_000_000


def takes(plan: Plan, rejected: bool, include_approved: bool) -> TakePlan:
    """Each job at its take from review.yaml; with --rejected, only the rejected, as new takes."""
    from runner.commands import terminal
    from runner.review.decisions import load_review
    from runner.review.retakes import plan_takes

    taken = plan_takes(
        plan, load_review(plan.output_dir), rejected=rejected, include_approved=include_approved
    )
    if rejected and not taken.retakes:
        terminal.echo_err("no job is rejected in review.yaml: nothing to generate again")
        sys.exit(EXIT_OK)
    return taken


def preview_and_confirm(
    plan: Plan, options: RunOptions, emulate: bool, safety: SafetyOptions, *, again: str
) -> tuple[RunPreview, tuple[DecisionReplaced, ...]]:
    """Show what the run will do and cost, and the approvals it will send back to review; stop
    on the budget, ask above --confirm-over. `again`: why a job generated again under the same
    request (--force) loses its decision."""
    from runner.commands import terminal
    from runner.execute.budget import budget_status, check_budget, other_shards_jobs
    from runner.execute.preview import preview_run

    preview = preview_run(plan, options)
    terminal.show_preview(plan, preview, emulate=emulate)
    others = other_shards_jobs(plan, options) if plan.budget is not None else ()
    replaced = decisions_replaced(plan, preview, again)
    terminal.show_approvals_replaced(replaced)
    budget = budget_status(plan, preview.to_generate, others)
    terminal.show_budget(budget)
    check_budget(plan, budget, preview.selected, preview.to_generate, others)
    spend = 0.0 if emulate else preview.cost.total_usd
    if not spend <= safety.confirm_over and not safety.yes:  # so that a NaN estimate asks too
        _confirm_spend(spend, safety.confirm_over)
    return preview, replaced


def decisions_replaced(plan: Plan, preview: RunPreview, again: str) -> tuple[DecisionReplaced, ...]:
    """The jobs decided in review.yaml whose images this run writes, with why."""
    from runner.diagnostics import BackdropError
    from runner.execute.previous import read_previous
    from runner.plan.diff import NOTHING
    from runner.review.decision_model import review_key
    from runner.review.decisions import load_review
    from runner.review.replaced import decisions_replaced as find

    review = load_review(plan.output_dir)
    writes = preview.writes
    if all(review.decision(review_key(job.outputs)).status == "pending" for job in writes):
        return ()  # the usual case: no need to read what the folder remembers
    try:
        previous = read_previous(plan.output_dir, plan)
    except BackdropError:  # an unreadable lock: the run rewrites it; the reasons say less
        previous = NOTHING
    copied = {job.key for job in preview.copies}
    return find(writes, review, previous, again=again, copied=copied)


def release_replaced(output_dir: Path, replaced: tuple[DecisionReplaced, ...]) -> None:
    """After the run (whatever stopped it): the decisions whose images it replaced go back to
    pending, with the reason announced before it ran. Never fails the run: export and the page
    check the images themselves, and the next run tries again."""
    from runner.commands import terminal
    from runner.diagnostics import NoRunError
    from runner.records.state import StateStore
    from runner.review.binding import release_replaced as release

    try:
        snapshot = StateStore.read_snapshot(output_dir)
    except NoRunError:
        return  # stopped before its first record: it replaced nothing
    except BackdropError as error:
        terminal.echo_err(f"warning: review.yaml not brought up to date: {error.message}")
        return
    try:
        released = release(
            output_dir,
            snapshot,
            {item.review_key: item.reason for item in replaced},
            {item.review_key for item in replaced},
        )
        terminal.show_released(released)
    except BackdropError as error:
        terminal.echo_err(f"warning: review.yaml not brought up to date: {error.message}")


def _terminal_to_ask() -> bool:
    # None: stdin was closed before the start (`<&-`); nobody can answer there either.
    return sys.stdin is not None and sys.stdin.isatty()


def _confirm_spend(spend: float, limit: float) -> None:
    message = f"this run is estimated at ${spend:,.2f}, above --confirm-over ${limit:,.2f}"
    if not _terminal_to_ask():
        raise UsageError(
            f"{message}, and there is no terminal to ask in",
            hint="add --yes to proceed, or raise --confirm-over; "
            "try --limit 3 first for a cheap trial",
        )
    if not click.confirm(f"{message}. Spend it?", default=False, err=True):
        from runner.commands import terminal

        terminal.echo_err("Not confirmed: nothing was spent.")
        sys.exit(EXIT_JOBS_FAILED)


def connect(
    stack: ExitStack, api: ApiOptions, output_dir: Path, key: str | None
) -> tuple[str, str, str]:
    """The API key, API URL and asset URL: the real ones, checked, or a started emulator's."""
    if api.emulate:
        return _start_emulator(stack, output_dir)
    checked = key if key is not None else api_key()
    api_url = _check_url("--api-url", api.api_url)
    warning = cleartext_warning(api_url)
    if warning is not None:
        from runner.commands import terminal

        terminal.echo_err(warning)
    return checked, api_url, _check_url("--asset-url", api.asset_url)


def cleartext_warning(api_url: str) -> str | None:
    """A warning when the key would cross a network unencrypted (http:// beyond loopback)."""
    import ipaddress

    import httpx

    parsed = httpx.URL(api_url)
    if parsed.scheme != "http" or parsed.host == "localhost":
        return None
    try:
        if ipaddress.ip_address(parsed.host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        f"warning: --api-url {parsed.scheme}://{parsed.host} is http://: your API key travels"
        " unencrypted; use https:// unless this is a trusted local proxy"
    )


def api_key() -> str:
    """The key from ONEMIN_API_KEY, refused (without showing it) when unfit for a header."""
    from runner.apikey import from_env, key_problem

    key = from_env()
    if not key:
        raise UsageError(
            "no API key: set the ONEMIN_API_KEY environment variable",
            hint="export ONEMIN_API_KEY=... (or rehearse offline with --emulate)",
        )
    problem = key_problem(key)
    if problem is not None:
        raise UsageError(
            f"the API key in ONEMIN_API_KEY {problem}",
            hint="copy the key again from your 1min.ai account, and set it on one line:"
            " export ONEMIN_API_KEY='...'",
        )
    return key


def _check_url(option: str, url: str) -> str:
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise UsageError(
            f"{option} {url!r} is not an http(s) URL",
            hint=f"write e.g. {option} https://api.1min.ai (or unset the environment variable)",
        )
    return url.rstrip("/")


def _start_emulator(stack: ExitStack, output_dir: Path) -> tuple[str, str, str]:
    """An emulator that remembers its uploads and results beside the run's state, so that a
    later --emulate run can download them again, as it could from the real asset host."""
    from runner.emulator.config import EmulatorConfig
    from runner.emulator.server import EmulatorServer
    from runner.fileio import FOLDER_ERRNOS, folder_error

    key = "emulator-key"
    folder = output_dir / ".backdrop" / "emulator"
    config = EmulatorConfig(api_key=key, state_dir=folder, credit_limit=EMULATED_CREDITS)
    try:
        server = stack.enter_context(EmulatorServer(config))
    except OSError as err:
        if err.errno in FOLDER_ERRNOS | {errno.ENOTDIR, errno.EEXIST} or isinstance(
            err, PermissionError
        ):
            raise folder_error(output_dir, err, ".backdrop/emulator") from None
        raise UsageError(
            f"cannot start the emulator in {folder}: {err.strerror or err}",
            hint="check that the output folder is writable (or choose another with -o)",
        ) from None
    return key, server.base_url, server.asset_base_url


def write_reports(output_dir: Path, csv_separator: str) -> Any:
    from runner.records.state import StateStore
    from runner.report.context import CSV_SEPARATORS, ReportOptions
    from runner.report.writer import write_reports as write

    options = ReportOptions(csv_separator=CSV_SEPARATORS[csv_separator])
    return write(StateStore.read_snapshot(output_dir), output_dir, options=options)


def write_reports_if_any(output_dir: Path, csv_separator: str) -> Any:
    # No state yet (the run stopped before its first record), or a folder that cannot be
    # written: the error that stopped the run is the one to show, not this one.
    try:
        return write_reports(output_dir, csv_separator)
    except BackdropError:
        return None


def prune(output_dir: Path, yes: bool) -> None:
    from runner.commands import terminal
    from runner.execute.prune import PruneCandidates, prune_outputs

    def confirm(candidates: PruneCandidates) -> bool:
        terminal.show_prunable(candidates)
        if yes:
            return True
        count = len(candidates.stale)
        if not _terminal_to_ask():
            raise UsageError(
                f"--prune would delete {count} file(s), and there is no terminal to ask in",
                hint="add --yes to delete them",
            )
        return click.confirm(f"Delete these {count} file(s)?", default=False, err=True)

    terminal.show_pruned(prune_outputs(output_dir, confirm))
