"""`backdrop review OUTDIR`: the local review page, where the team picks, approves and rejects."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import click

from runner.diagnostics import UsageError

if TYPE_CHECKING:
    from runner.review.decision_model import Review


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
    each job's output path (without extension) gets `status: rejected`, or `status: approved`
    with `sha256:` listing the SHA-256 of each image approved (as backdrop.lock records them; an
    approval binds to those bytes) and `pick: 2` to choose a variant when the recipe asks for
    several. export and run --rejected read it the same way.
    """
    from runner.commands import terminal
    from runner.commands.common import folder_or_recipe_folder
    from runner.records.state import StateStore
    from runner.review.checks import decision_problems, job_variants
    from runner.review.decision_model import orphaned
    from runner.review.decisions import ReviewFileError, load_review
    from runner.review.listing import count_statuses, job_images
    from runner.review.review_server import ReviewServer, state_images
    from runner.review.writable import check_decisions_writable

    folder = folder_or_recipe_folder(outdir)
    # These fail early, with a message, when there is no run or review.yaml has a mistake.
    snapshot = StateStore.read_snapshot(folder)
    decisions = load_review(folder)
    problems = decision_problems(folder, decisions, job_variants(snapshot))
    if problems:
        raise ReviewFileError(problems)
    check_decisions_writable(folder)  # else every click would fail to save
    server = ReviewServer(
        folder,
        lambda: StateStore.read_snapshot(folder),
        port=port,
        images_at=state_images(folder),
    )
    try:
        server.bind()
    except OSError as err:
        raise UsageError(
            f"cannot listen on 127.0.0.1:{port}: {err.strerror or err}",
            hint="choose another --port, or leave it out to pick a free one",
        ) from None
    images = job_images(snapshot, folder)
    counts = count_statuses(decisions, images)
    terminal.echo(
        f"Review of {folder}: {len(images)} jobs, {counts['approved']} approved, "
        f"{counts['rejected']} rejected, {counts['pending']} pending."
    )
    terminal.show_orphans(orphaned(decisions, images))
    show_unheld(decisions, images)
    terminal.echo(f"Open {server.url}")
    terminal.echo("Decisions are saved in review.yaml as you make them. Ctrl-C stops.")
    if not no_browser:
        open_browser(server.url)
    server.serve_forever()


def open_browser(url: str) -> None:
    """The page in the browser. On Linux, xdg-open's own complaints (a server over SSH has no
    browser: a dozen lines) are dropped: the address printed above says what to open."""
    if not sys.platform.startswith("linux"):
        click.launch(url)
        return
    import subprocess

    with contextlib.suppress(OSError):  # no xdg-open at all
        subprocess.Popen(
            ["xdg-open", url],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def show_unheld(decisions: Review, images: Mapping[str, Sequence[str | None]]) -> None:
    """Say how many approvals in review.yaml are not for the images in the folder."""
    from runner.commands import terminal
    from runner.printable import one_line
    from runner.review.binding import shown_status

    unheld = [
        key
        for key, shown in images.items()
        if decisions.decision(key).status == "approved"
        and shown_status(decisions.decision(key), shown) != "approved"
    ]
    if unheld:
        terminal.echo_err(
            f"note: {len(unheld):,} approval(s) in review.yaml are not for the images in the "
            "folder (replaced since, or written without their sha256), "
            f"e.g. {one_line(unheld[0])}: the page shows them as pending; approve them there "
            "again to deliver them"
        )
