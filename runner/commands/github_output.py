"""GitHub Actions output for validate, run and verify: annotations on stdout, the job summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runner.commands import github, terminal
from runner.diagnostics import Diagnostic, display_path

if TYPE_CHECKING:
    from runner.execute.run_plan import RunResult
    from runner.records.lock_reader import VerifyResult


def annotate_diagnostics(fmt: str | None, diagnostics: Sequence[Diagnostic]) -> None:
    if github.enabled(fmt) and diagnostics:
        terminal.annotate(github.diagnostic_commands(diagnostics))


def report_run(
    fmt: str | None, recipe: str, output_dir: Path, result: RunResult, cost_usd: float | None
) -> None:
    """Failed jobs as errors on the recipe (at most 10), and the run's job summary."""
    if github.enabled(fmt) and result.failures:
        terminal.annotate(github.failure_commands(result.failures, Path(recipe)))
    totals = {
        "jobs": result.jobs,
        "done": result.done,
        "up_to_date": result.skipped,
        "failed": result.failed,
        "not_finished": result.interrupted,
        "images_written": result.images,
    }
    if result.maybe_charged:  # sent, no answer: 1min.ai may have charged them
        totals["maybe_charged"] = len(result.maybe_charged)
    github.append_summary(
        github.run_summary(
            recipe=Path(display_path(Path(recipe))).as_posix(),
            totals=totals,
            cost_usd=cost_usd,
            failures=result.failures,
            report=Path(display_path(output_dir / "report.html")).as_posix(),
            fatal=result.fatal,
        )
    )


def report_verify(outdir: str, result: VerifyResult) -> None:
    github.append_summary(
        github.verify_summary(outdir, result.missing, result.changed, result.stale)
    )
