"""The command line: parse arguments, call the core, map errors to messages and exit codes.

Nothing of substance happens here; see runner/terminal.py for how results are shown.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runner import __version__
from runner.diagnostics import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_JOBS_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    BackdropError,
    UsageError,
)

if TYPE_CHECKING:
    from runner.plan.model import Plan
    from runner.recipe.model import PriceTable

F = TypeVar("F", bound=Callable[..., Any])

API_URL_DEFAULT = "https://api.1min.ai"
ASSET_URL_DEFAULT = "https://asset.1min.ai"


def _plan(
    recipe_path: str, output_dir: str | None, max_jobs: int | None, prices: Sequence[str]
) -> Plan:
    from runner.plan.planner import plan_recipe
    from runner.recipe.build import load_recipe

    recipe = load_recipe(Path(recipe_path))
    return plan_recipe(
        recipe,
        output_dir=Path(output_dir).resolve() if output_dir else None,
        max_jobs=max_jobs,
        prices=_price_overrides(recipe.prices, prices) if prices else None,
    )


def _price_overrides(base: PriceTable, items: Sequence[str]) -> PriceTable:
    """--price high=0.2 (both shapes) or --price high:square=0.17 / low:non-square=0.02."""
    from runner.api.limits import QUALITIES
    from runner.recipe.model import PriceTable

    square, non_square = dict(base.square), dict(base.non_square)
    for item in items:
        what, sep, amount = item.partition("=")
        quality, _, shape = what.partition(":")
        try:
            usd = float(amount)
        except ValueError:
            usd = -1.0
        if not sep or quality not in QUALITIES or shape not in ("", "square", "non-square"):
            raise UsageError(
                f"--price {item!r} is not understood",
                hint="write QUALITY=USD or QUALITY:square=USD / QUALITY:non-square=USD, "
                "e.g. --price high=0.2",
            )
        if usd < 0:
            raise UsageError(f"--price {item!r}: {amount!r} is not a price in USD")
        if shape in ("", "square"):
            square[quality] = usd
        if shape in ("", "non-square"):
            non_square[quality] = usd
    return PriceTable(square=square, non_square=non_square)


def plan_options(func: F) -> F:
    func = click.option(
        "--price",
        "prices",
        multiple=True,
        metavar="QUALITY[:SHAPE]=USD",
        help="Override a price per image for the estimate, e.g. high=0.2 or low:square=0.01.",
    )(func)
    func = click.option(
        "--max-jobs",
        type=click.IntRange(min=1),
        help="Refuse recipes that expand to more jobs than this (default 10,000 or the "
        "recipe's max_jobs).",
    )(func)
    func = click.option(
        "--output-dir",
        "-o",
        type=click.Path(file_okay=False),
        help="Output folder (default: out/<name>/ beside the recipe).",
    )(func)
    return func


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="backdrop")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Backdrop: YAML recipes in, batches of AI background replacements out (1min.ai)."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@cli.command()
@click.argument("recipes", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="json prints machine-readable diagnostics for CI.",
)
def validate(recipes: tuple[str, ...], fmt: str) -> None:
    """Check recipes (schema, templates, images, API limits) without spending anything."""
    from runner import terminal
    from runner.diagnostics import RecipeError

    results: list[tuple[str, Plan | None, list[Any]]] = []
    for path in recipes:
        try:
            plan = _plan(path, None, None, ())
            results.append((path, plan, []))
        except RecipeError as err:
            results.append((path, None, list(err.diagnostics())))
        except BackdropError as err:
            results.append((path, None, list(err.diagnostics())))
    failed = any(diags for _, _, diags in results)
    if fmt == "json":
        payload = [
            {
                "recipe": path,
                "valid": not diags,
                "jobs": len(plan.jobs) if plan else None,
                "diagnostics": [d.to_json() for d in diags],
            }
            for path, plan, diags in results
        ]
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        terminal.show_validation(results)
    sys.exit(EXIT_USAGE if failed else EXIT_OK)


@cli.command()
@click.argument("recipe", type=click.Path())
@plan_options
@click.option("--json", "as_json", is_flag=True, help="Print the full plan as JSON.")
@click.option("--all", "show_all", is_flag=True, help="List every job, however many.")
def plan(
    recipe: str,
    output_dir: str | None,
    max_jobs: int | None,
    prices: tuple[str, ...],
    as_json: bool,
    show_all: bool,
) -> None:
    """Show the jobs a recipe expands to, their outputs and an estimated cost."""
    from runner import terminal

    the_plan = _plan(recipe, output_dir, max_jobs, prices)
    if as_json:
        terminal.print_plan_json(the_plan)
    else:
        terminal.show_plan(the_plan, show_all=show_all)


@cli.command()
def schema() -> None:
    """Print the recipe JSON Schema (Draft 2020-12)."""
    from importlib import resources

    click.echo((resources.files("runner") / "schemas" / "recipe.schema.json").read_text("utf-8"))


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Create a starter recipe, its schema, an example image and a CSV in DIRECTORY."""
    from runner import terminal
    from runner.scaffold import init_project

    written = init_project(Path(directory))
    terminal.show_init(written)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: the one place where errors become messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("BACKDROP_DEBUG") == "1"
    try:
        cli.main(args=args, prog_name="backdrop", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as err:
        err.show()
        sys.exit(EXIT_USAGE if err.exit_code == 2 else err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except BackdropError as err:
        from runner import terminal

        terminal.show_error(err)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit:
        raise
    except Exception as err:  # the boundary: anything else is our bug
        if debug:
            raise
        click.echo(f"internal error: {type(err).__name__}: {err}", err=True)
        click.echo(
            "    hint: this is a bug in backdrop; re-run with --debug for details and report it",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)


__all__ = ["EXIT_JOBS_FAILED", "cli", "main"]
