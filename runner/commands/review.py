"""`backdrop review OUTDIR`: the local review page, where the team picks, approves and rejects."""

from __future__ import annotations

import click

from runner.diagnostics import UsageError


@click.command()
@click.argument("outdir", metavar="OUTDIR|RECIPE", type=click.Path())
@click.option(
    "--port",
    "-p",
    type=click.IntRange(0, 65535),
    default=0,
    help="The port on 127.0.0.1 (default: a free one).",
)
@click.option("--no-browser", is_flag=True, help="Print the address; do not open a browser.")
def review(outdir: str, port: int, no_browser: bool) -> None:
    """Open the review page of OUTDIR: decisions are saved in OUTDIR/review.yaml at once.

    No browser at hand (a server, CI)? Edit OUTDIR/review.yaml by hand instead: under `jobs:`,
    each job's output path (without extension) gets `status: approved` or `status: rejected`,
    and `pick: 2` to choose a variant when the recipe asks for several. export and
    run --rejected read it the same way.
    """
    from runner.commands.common import folder_or_recipe_folder
    from runner.execute.state import StateStore
    from runner.review.decisions import load_review, orphaned
    from runner.review.page import count_statuses, job_sizes
    from runner.review.server import ReviewServer
    from runner.review.writable import check_decisions_writable

    folder = folder_or_recipe_folder(outdir)
    # Both fail early, with a message, when there is no run or review.yaml has a mistake.
    sizes = job_sizes(StateStore.read_snapshot(folder))
    decisions = load_review(folder)
    check_decisions_writable(folder)  # else every click would fail to save
    server = ReviewServer(folder, lambda: StateStore.read_snapshot(folder), port=port)
    try:
        server.bind()
    except OSError as err:
        raise UsageError(
            f"cannot listen on 127.0.0.1:{port}: {err.strerror or err}",
            hint="choose another --port, or leave it out to pick a free one",
        ) from None
    counts = count_statuses(decisions, list(sizes))
    click.echo(
        f"Review of {folder}: {len(sizes)} jobs, {counts['approved']} approved, "
        f"{counts['rejected']} rejected, {counts['pending']} pending."
    )
    show_orphans(orphaned(decisions, sizes))
    click.echo(f"Open {server.url}")
    click.echo("Decisions are saved in review.yaml as you make them. Ctrl-C stops.")
    if not no_browser:
        click.launch(server.url)
    server.serve_forever()


def show_orphans(orphans: tuple[str, ...]) -> None:
    """Warn about decisions on jobs that are gone (verify shows them too)."""
    if not orphans:
        return
    click.echo(
        f"warning: review.yaml has {len(orphans)} decision(s) on jobs that are no longer in "
        "the recipe; they are kept:",
        err=True,
    )
    for key in orphans:
        click.echo(f"  orphaned {key}", err=True)
    click.echo(
        "    hint: delete them from review.yaml if they are not needed, or restore the jobs",
        err=True,
    )
