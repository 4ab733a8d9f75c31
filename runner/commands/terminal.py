"""How the CLI shows things: diagnostics, plans, summaries. Part of the CLI layer, not the core.

Everything the CLI prints goes through here: values written out (runner/printable.py), the API
key redacted. Under it, commands/streams.py guards stdout and stderr themselves, so that a value
someone forgot to escape still cannot act on a terminal or drive a CI runner.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from runner.apikey import redact
from runner.diagnostics import (
    EXIT_ABORTED,
    EXIT_INTERRUPTED,
    EXIT_JOBS_FAILED,
    EXIT_OK,
    BackdropError,
    Diagnostic,
    display_path,
)
from runner.printable import json_printable, one_line, printable

if TYPE_CHECKING:
    from rich.console import Console

    from runner.commands.progress import LiveEvents, PlainEvents
    from runner.deliver.export_outputs import ExportResult
    from runner.execute.budget import BudgetStatus
    from runner.execute.preview import RunPreview
    from runner.execute.prune import PruneCandidates, PruneResult
    from runner.execute.run_plan import RunAbandoned, RunResult
    from runner.plan.diff import DecisionReplaced
    from runner.plan.plan_model import Plan
    from runner.records.lock_reader import VerifyResult
    from runner.records.run_records import UnansweredRequest
    from runner.report.writer import ReportPaths
    from runner.review.binding import Released

PLAN_ROWS_SHOWN = 200
VERIFY_PATHS_SHOWN = 50  # per kind: a lock of 100,000 outputs in a fresh clone misses them all


def echo(text: str, *, nl: bool = True) -> None:
    """Print a line for people: the API key redacted, control characters written out."""
    click.echo(printable(redact(text)), nl=nl)


def echo_err(text: str) -> None:
    click.echo(printable(redact(text)), err=True)


def echo_json(payload: object) -> None:
    """Machine-readable output: still JSON, and still inert in a terminal."""
    click.echo(json_printable(redact(json.dumps(payload, indent=2, ensure_ascii=False))))


def write_json_chunks(chunks: Iterable[str]) -> None:
    """A JSON document printed piece by piece, each piece as inert as echo_json's output; in
    writes of about 256 KB, since each write costs the output guard (streams.py) a little."""
    import sys

    batch: list[str] = []
    size = 0
    for chunk in chunks:
        batch.append(chunk)
        size += len(chunk)
        if size >= _JSON_WRITE:
            sys.stdout.write(json_printable(redact("".join(batch))))
            batch, size = [], 0
    sys.stdout.write(json_printable(redact("".join(batch))))
    sys.stdout.flush()


_JSON_WRITE = 256 * 1024


def annotate(commands: Sequence[str]) -> None:
    """GitHub workflow commands built by commands/github.py: the only lines printed as they are."""
    from runner.commands.streams import write_workflow_commands

    write_workflow_commands(commands)


def show_orphans(orphans: Sequence[str]) -> None:
    """Warn about decisions in review.yaml on jobs that are gone (review and verify)."""
    if not orphans:
        return
    echo_err(
        f"warning: review.yaml has {len(orphans)} decision(s) on jobs that are no longer in "
        "the recipe; they are kept:"
    )
    for key in orphans:
        echo_err(f"  orphaned {one_line(key)}")
    echo_err("    hint: delete them from review.yaml if they are not needed, or restore the jobs")


def show_diagnostics(diagnostics: Sequence[Diagnostic]) -> None:
    for diag in diagnostics:
        echo_err(diag.render())
    errors = sum(d.problems for d in diagnostics if d.severity == "error")
    if errors > 1:
        echo_err(f"{errors:,} errors")


def show_error(err: BackdropError) -> None:
    show_diagnostics(err.diagnostics())


def show_validation(results: Sequence[tuple[str, Plan | None, Sequence[Diagnostic]]]) -> None:
    for path, plan, diags in results:
        show_diagnostics(diags)  # errors, or warnings beside a valid plan
        if plan is None:
            echo_err(f"{path}: invalid")
        else:
            echo(
                f"{path}: ok ({_count(len(plan.jobs), 'job')}, {_count(plan.image_count, 'image')})"
            )


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _console() -> Console:
    import sys

    from rich.console import Console

    from runner.commands.streams import styled_stdout

    # Piped or in CI there is no terminal width; 80 columns would squeeze the job table.
    width = None if sys.stdout.isatty() else 200
    return Console(file=styled_stdout(), highlight=False, soft_wrap=False, width=width)


def show_plan(plan: Plan, *, show_all: bool, compared: str | None = None) -> None:
    from rich.table import Table

    console = _console()
    title = f"Plan for {one_line(plan.recipe_name)}"
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("job", no_wrap=True)
    table.add_column("prompt", max_width=60, overflow="ellipsis", no_wrap=True)
    table.add_column("output", no_wrap=True)
    table.add_column("key", style="dim", no_wrap=True)
    jobs = plan.jobs if show_all else plan.jobs[:PLAN_ROWS_SHOWN]
    for job in jobs:
        prompt = " ".join(job.prompt_object.prompt.split())
        outputs = job.outputs[0] + (f" (+{len(job.outputs) - 1})" if len(job.outputs) > 1 else "")
        table.add_row(
            str(job.index + 1),
            one_line(job.label or "(single job)"),
            one_line(prompt),
            one_line(outputs),
            job.key[:12],
        )
    console.print(table, markup=False)
    if len(plan.jobs) > len(jobs):
        console.print(
            f"... and {len(plan.jobs) - len(jobs):,} more jobs (use --all to list them, "
            "or --json for the full plan)",
            markup=False,
        )
    show_totals(plan, console, compared=compared)


def show_totals(plan: Plan, console: Console | None = None, *, compared: str | None = None) -> None:
    """`compared`: what is left after earlier runs (plan --diff's summary), when there were."""
    console = console or _console()
    cost = plan.cost()
    verb = "in the plan" if compared else "to generate"
    console.print(
        f"{_count(len(plan.jobs), 'job')}, {_count(plan.image_count, 'image')} {verb}, "
        f"{_count(plan.upload_count, 'source image')} to upload",
        markup=False,
    )
    for (quality, size), (images, usd) in sorted(cost.by_kind.items()):
        console.print(f"  {images:>6,} x {quality:<6} {size:<9}  ${usd:,.2f}", markup=False)
    whole = "Estimated cost of the whole plan" if compared else "Estimated cost"
    console.print(
        f"{whole}: ${cost.total_usd:,.2f} (an estimate from list prices per image, not a quote)",
        markup=False,
    )
    if compared:
        console.print(f"After the runs so far: {compared}", markup=False)
    console.print(f"Output folder: {one_line(display_path(plan.output_dir))}", markup=False)


def print_plan_json(plan: Plan) -> None:
    """Streamed job by job: a 100,000-job plan is never one 85 MB string (issue 8)."""
    from runner.plan.plan_json import plan_json_chunks

    shown = {"recipe_path": str(plan.recipe_path), "output_dir": str(plan.output_dir)}
    write_json_chunks(plan_json_chunks(plan, **shown))


def show_init(written: Sequence[Path]) -> None:
    echo("Created:")
    for path in written:
        echo(f"  {display_path(path)}")
    recipe = display_path(written[0])
    echo(f"Next: backdrop plan {recipe}   then   backdrop run {recipe} --emulate")


def show_preview(plan: Plan, preview: RunPreview, *, emulate: bool) -> None:
    selected = len(preview.selected)
    parts = [f"{_count(len(preview.to_generate), 'job')} to generate ({preview.images:,} images)"]
    if preview.to_download:
        parts.append(f"{preview.to_download:,} paid earlier, only downloads left")
    if preview.up_to_date:
        parts.append(f"{preview.up_to_date:,} up to date")
    echo(f"{one_line(plan.recipe_name)}: {_count(selected, 'job')} selected: {', '.join(parts)}")
    estimate = f"${preview.cost.total_usd:,.2f} (an estimate from list prices, not a quote)"
    if emulate:
        echo(f"Emulator: an offline rehearsal; nothing is spent. With 1min.ai: {estimate}")
    else:
        echo(f"Estimated cost: {estimate}")


def show_budget(status: BudgetStatus | None, *, planned: bool = False) -> None:
    """The recipe's budget, what the folder has cost and what would remain (nothing if unset)."""
    if status is None:
        return
    what = "the rest of this plan" if planned else "this run"
    if status.other_shards:
        what += f" ${status.this_run:,.2f}, the other shards ${status.other_shards:,.2f}"
    else:
        what += f" ${status.this_run:,.2f}"
    maybe = f" + ${status.maybe_charged:,.2f} maybe charged" if status.maybe_charged else ""
    after = -status.over
    echo(
        f"Budget: ${status.budget:,.2f}; spent so far ${status.spent:,.2f}{maybe} (estimate), "
        f"${max(status.remaining, 0.0):,.2f} left; {what}: "
        + (f"fits, ${after:,.2f} would remain" if status.fits else f"${-after:,.2f} over")
    )


def show_export(result: ExportResult) -> None:
    """What export delivered, and (as a warning) the jobs it left out."""
    if result.held:
        echo_err(f"warning: {_count(len(result.held), 'job')} not exported:")
        for held in result.held[:PLAN_ROWS_SHOWN]:
            echo_err(f"  {one_line(held.review_key)}: {held.reason}")
        if len(result.held) > PLAN_ROWS_SHOWN:
            echo_err(f"  ... and {len(result.held) - PLAN_ROWS_SHOWN:,} more")
    where = display_path(result.to)
    inside = f" in {_count(len(result.zips), 'zip')}" if result.zips else ""
    # The counts are of what was written: the zips when zipping, else the files themselves.
    written = _count(len(result.written), "zip") if result.zips else f"{len(result.written):,}"
    echo(
        f"Exported {_count(len(result.files), 'file')}{inside} to {where}: "
        f"{written} written, {result.unchanged:,} unchanged"
    )
    manifest = "written" if result.manifest_written else "unchanged"
    echo(f"Manifest: {display_path(result.to / 'manifest.csv')} ({manifest})")


def run_events() -> PlainEvents | LiveEvents:
    """A live display in a terminal; one plain line per finished job elsewhere (CI, pipes)."""
    import sys

    from runner.commands.progress import LiveEvents, PlainEvents

    return LiveEvents() if sys.stdout.isatty() else PlainEvents()


def show_run_summary(
    result: RunResult, paths: ReportPaths | None, *, emulated: bool = False
) -> None:
    """`paths` is None when the reports could not be written after a run that stopped early."""
    show_unanswered(result.unanswered)
    show_maybe_charged(result.maybe_charged, result.maybe_charged_usd)
    minutes, seconds = divmod(result.duration_s, 60)
    took = f"{int(minutes)} min {seconds:.0f} s" if minutes else f"{seconds:.1f} s"
    echo(
        f"Finished: {result.done:,} done, {result.skipped:,} up to date, {result.failed:,} failed"
        + (f", {result.interrupted:,} not run" if result.interrupted else "")
        + f"; {_count(result.images, 'image')} written in {took}"
    )
    cost = f"${result.generated_cost_usd:,.2f}"  # only what the API answered: nothing else is paid
    if emulated:
        echo(f"Emulator: nothing was spent; with 1min.ai, what was generated would cost {cost}")
    else:
        echo(f"Estimated cost of what was generated: {cost} (list prices, not a bill)")
    if result.adopted:
        adopted = _count(result.adopted, "job")
        # No state yet (a fresh clone), or a lock pulled from another machine's run.
        echo(f"Up to date by backdrop.lock: {adopted} (its files as recorded, not paid again)")
        if result.copied:
            copied = _count(result.copied, "job")
            echo(f"Copied from shard folders: {copied} (done there, as their backdrop.lock says)")
    if result.credits_left is not None:
        echo(f"Credits left: {result.credits_left:,}")
    for output, kept in result.kept_edits:
        echo_err(f"kept: {output} had been edited; the edit is now {kept}, the new result {output}")
    for output, note in result.adjusted:
        echo_err(f"note: {output}: {note}")
    for failure in result.failures:
        echo_err(f"failed: {one_line(failure.label or failure.key[:12])}: {failure.message}")
    if result.fatal:
        echo_err(f"error: {result.fatal}")
        if result.fatal_hint:
            echo_err(f"    hint: {result.fatal_hint}")
    elif result.stopped:
        by = f" by {_signal_name(result.stop_signal)}" if result.stop_signal else ""
        echo_err(f"Interrupted{by}: finished requests were saved; run the same command to resume.")
    if result.failed and not result.fatal:
        echo_err("    hint: fix the cause, then `backdrop run RECIPE --retry-failed`")
    if paths is not None:
        echo(f"Report: {display_path(paths.html)}")


def show_unanswered(requests: Sequence[UnansweredRequest]) -> None:
    """Generations an earlier run sent and never heard back about: tell the user to check."""
    if not requests:
        return
    echo_err(
        f"warning: {_count(len(requests), 'generation')} sent by an earlier run never got an"
        " answer (the run was stopped, or the API failed after the request was sent);"
        " 1min.ai may have charged for them:"
    )
    for request in requests[:20]:
        echo_err(f"  {one_line(request.label or request.key[:12])} (sent {request.sent_at})")
    if len(requests) > 20:
        echo_err(f"  ... and {len(requests) - 20:,} more")
    echo_err(
        "    hint: compare with the usage in your 1min.ai dashboard; backdrop cannot fetch"
        " those results, so those jobs are generated again"
    )


def show_maybe_charged(requests: Sequence[UnansweredRequest], usd: float) -> None:
    """Generations this run sent that got no answer: maybe charged, and counted as spent."""
    if not requests:
        return
    echo_err(
        f"warning: {_count(len(requests), 'generation')} sent by this run got no answer (a 5xx,"
        " a dropped connection or a timeout after the request went out); 1min.ai may have"
        f" charged for them (${usd:,.2f} estimated), and the budget counts them as spent:"
    )
    for request in requests[:20]:
        echo_err(f"  {request.label or request.key[:12]} (sent {request.sent_at})")
    if len(requests) > 20:
        echo_err(f"  ... and {len(requests) - 20:,} more")
    echo_err("    hint: compare with the usage in your 1min.ai dashboard")


def show_abandoned(exc: RunAbandoned) -> int:
    """A second stop signal or the drain timeout; returns the exit code (128 + signal)."""
    why = "the drain timeout passed" if exc.timed_out else "stopped at once"
    echo_err(f"Aborted ({_signal_name(exc.signum)}, {why}).")
    if exc.in_flight:
        echo_err(
            f"{_count(exc.in_flight, 'generation')} in flight abandoned: 1min.ai may charge"
            " them, and the next run generates them again (it lists them)"
        )
    echo_err("    hint: finished work is saved; run the same command to resume")
    return 128 + exc.signum


def _signal_name(signum: int) -> str:
    import signal

    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def run_exit_code(result: RunResult) -> int:
    if result.fatal:
        return EXIT_ABORTED
    if result.stop_signal is not None:
        return 128 + result.stop_signal
    if result.stopped:
        return EXIT_INTERRUPTED
    return EXIT_JOBS_FAILED if result.failed or result.interrupted else EXIT_OK


def show_prunable(candidates: PruneCandidates) -> None:
    count = _count(len(candidates.stale), "image")
    echo_err(f"{count} written by backdrop for jobs no longer in the recipe:")
    for path in candidates.stale:
        echo_err(f"  {one_line(str(path))}")


def show_pruned(result: PruneResult) -> None:
    edited = result.candidates.edited
    if edited:
        echo_err(
            f"prune: kept {_count(len(edited), 'stale image')} changed since backdrop wrote it:"
        )
        for path in edited:
            echo_err(f"  {one_line(str(path))}")
    if not result.candidates.stale:
        echo_err("prune: no stale images written by backdrop")
    elif not result.deleted:
        echo_err("prune: nothing deleted")
    else:
        folders = (
            f" and {_count(result.folders_removed, 'empty folder')}"
            if result.folders_removed
            else ""
        )
        echo_err(f"prune: deleted {_count(len(result.deleted), 'stale image')}{folders}")


def show_report_paths(paths: ReportPaths) -> None:
    echo(f"Report: {display_path(paths.html)}")
    for path in paths.written[1:]:
        echo(f"        {display_path(path)}")


def show_verify(result: VerifyResult) -> None:
    for label, paths in (
        ("missing", result.missing),
        ("changed", result.changed),
        ("stale", result.stale),
    ):
        for path in paths[:VERIFY_PATHS_SHOWN]:
            echo(f"{label:<8} {one_line(path)}")
        if len(paths) > VERIFY_PATHS_SHOWN:
            echo(f"{label:<8} ... and {len(paths) - VERIFY_PATHS_SHOWN:,} more")
    if result.ok:
        echo("ok: every file matches backdrop.lock")
    else:
        counts = f"{len(result.missing):,} missing, {len(result.changed):,} changed, "
        echo_err(f"{counts}{len(result.stale):,} stale")
        echo_err(
            "    hint: `backdrop run RECIPE` restores missing and changed files; "
            "`backdrop run RECIPE --prune` removes stale images backdrop wrote (never other files)"
        )


def show_emulator_ready(base_url: str) -> None:
    echo(f"1min.ai emulator listening on {base_url} (an offline rehearsal, not AI)")
    echo(f"  backdrop run RECIPE --api-url {base_url} --asset-url {base_url}/asset")
    echo("  with any ONEMIN_API_KEY. Ledger: " + f"{base_url}/_emulator/ledger. Ctrl-C stops.")


def show_approvals_replaced(replaced: Sequence[DecisionReplaced]) -> None:
    """Before a run: the approved jobs whose images it will replace (back to review)."""
    from runner.plan.diff_output import approvals_text

    approved = [item for item in replaced if item.status == "approved"]
    for line in approvals_text(approved, "will"):
        echo(line)


def show_released(released: Sequence[Released]) -> None:
    """After a run: the decisions it sent back to pending, their images replaced."""
    if not released:
        return
    approved = sum(item.status == "approved" for item in released)
    what = _count(len(released), "decision")
    of = f" ({approved:,} approved)" if approved else ""
    echo(f"review.yaml: {what}{of} back to pending review, their images replaced")
