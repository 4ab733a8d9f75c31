"""`backdrop export OUTDIR --to DIR`: deliver the approved images, per channel, with a manifest."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from runner.diagnostics import EXIT_OK, UsageError


@click.command()
@click.argument("outdir", metavar="OUTDIR|RECIPE", type=click.Path())
@click.option("--to", "to", required=True, type=click.Path(), help="The delivery folder.")
@click.option(
    "--name",
    "name",
    metavar="TEMPLATE",
    help="File name template over the matrix values, e.g. "
    "'{{ product.sku }}_{{ market.code }}' (default: the output path).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jpeg", "png", "webp"]),
    help="Re-encode the images (default: as generated).",
)
@click.option(
    "--quality",
    type=click.IntRange(0, 100),
    default=90,
    show_default=True,
    help="JPEG and WebP quality.",
)
@click.option("--zip", "as_zip", is_flag=True, help="One zip per market (or per --group-by).")
@click.option("--group-by", metavar="AXIS", help="With --zip: the axis per zip, e.g. season.")
@click.option(
    "--csv-separator",
    type=click.Choice([",", ";"]),
    default=",",
    show_default=True,
    help="manifest.csv separator; ';' for Excel in French or German.",
)
@click.option("--strict", is_flag=True, help="Fail when a job is still pending or rejected (CI).")
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace files in DIR that no earlier export wrote (by default export stops).",
)
@click.option(
    "--recipe",
    type=click.Path(dir_okay=False),
    help="The recipe whose channels to use (default: the one the folder was run from).",
)
def export(
    outdir: str,
    to: str,
    name: str | None,
    fmt: str | None,
    quality: int,
    as_zip: bool,
    group_by: str | None,
    csv_separator: str,
    strict: bool,
    overwrite: bool,
    recipe: str | None,
) -> None:
    """Copy the approved images of OUTDIR into a delivery folder, named and sized per channel.

    The channels (instagram: 1080x1350, ...) come from the recipe's `channels:`; without them
    the images are copied as generated. When the recipe asks for several images per job
    (n > 1), an approved job needs a pick (in the review page, or `pick: N` in review.yaml):
    without one it is left out, like a pending job.
    """
    from runner.commands import terminal
    from runner.commands.common import folder_or_recipe_folder
    from runner.deliver.export_outputs import ExportOptions, export_outputs
    from runner.recipe.build import load_recipe
    from runner.records.state import StateStore
    from runner.review.decisions import load_review

    output_dir = folder_or_recipe_folder(outdir)
    snapshot = StateStore.read_snapshot(output_dir)
    recipe_path = Path(recipe) if recipe else Path(snapshot.recipe_path)
    if recipe_path.is_file():
        channels = load_recipe(recipe_path).channels
    elif recipe:
        raise UsageError(f"--recipe {recipe}: no such file")
    else:
        channels = ()
        terminal.echo_err(
            f"note: the recipe {snapshot.recipe_path} is gone; exporting the images as they are "
            "(give --recipe to use its channels)"
        )
    options = ExportOptions(
        name=name,
        format=fmt,
        quality=quality,
        zip=as_zip,
        group_by=group_by,
        csv_separator=csv_separator,
        strict=strict,
        overwrite=overwrite,
    )
    review = load_review(output_dir)
    try:
        with _stop_signals_unwind():
            result = export_outputs(
                output_dir,
                Path(to),
                snapshot,
                review.decisions,
                channels,
                options,
                recipe=Path(recipe) if recipe else None,
            )
    except _Stopped as stop:
        terminal.echo_err(
            f"Export stopped ({signal.Signals(stop.signum).name}): its temporary files were "
            "removed, and every file at a delivered name is whole."
        )
        terminal.echo_err("    hint: run the same command again to finish the delivery")
        sys.exit(128 + stop.signum)
    terminal.show_export(result)
    sys.exit(EXIT_OK)


class _Stopped(BaseException):
    """A stop signal, raised where export was, so that its clean-up runs on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _stop_signals_unwind() -> Iterator[None]:
    """SIGTERM and SIGHUP (a CI cancel, `docker stop`, a closed terminal) would end the process
    at once, leaving temporary files in --to: they unwind the export instead, as Ctrl-C does."""
    import threading

    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        for each in wanted:  # a second signal must not cut the clean-up short
            signal.signal(each, signal.SIG_IGN)
        raise _Stopped(signum)

    before = {each: signal.signal(each, stop) for each in wanted}
    try:
        yield
    finally:
        for each, handler in before.items():
            signal.signal(each, handler)
