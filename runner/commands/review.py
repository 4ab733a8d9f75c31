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
    """Open the review page of OUTDIR: decisions are saved in OUTDIR/review.yaml at once."""
    from runner import terminal
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
    terminal.echo(
        f"Review of {folder}: {len(sizes)} jobs, {counts['approved']} approved, "
        f"{counts['rejected']} rejected, {counts['pending']} pending."
    )
    terminal.show_orphans(orphaned(decisions, sizes))
    terminal.echo(f"Open {server.url}")
    terminal.echo("Decisions are saved in review.yaml as you make them. Ctrl-C stops.")
    if not no_browser:
        click.launch(server.url)
    server.serve_forever()
