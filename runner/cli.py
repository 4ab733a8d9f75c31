"""The command line: parse arguments, call the core, map errors to messages and exit codes.

Nothing of substance happens here; see runner/terminal.py for how results are shown.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runner import __version__
from runner.cli_params import FiniteFloat
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
# Rehearsal credits: enough for thousands of full demo runs, still shown as "credits left".
EMULATED_CREDITS = 1_000_000_000


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
        if not math.isfinite(usd):  # a NaN price would switch the money guard off
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


def csv_separator_option(func: F) -> F:
    return click.option(
        "--csv-separator",
        type=click.Choice([",", ";", "tab"]),
        default=",",
        show_default=True,
        help="Column separator of results.csv: ';' for French or German Excel.",
    )(func)


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
    type=click.Choice(["text", "json", "github"]),
    default="text",
    help="json prints machine-readable diagnostics for CI; github adds GitHub Actions "
    "annotations (also when GITHUB_ACTIONS=true).",
)
def validate(recipes: tuple[str, ...], fmt: str) -> None:
    """Check recipes (schema, templates, images, API limits) without spending anything."""
    from runner import terminal

    results: list[tuple[str, Plan | None, list[Any]]] = []
    for path in recipes:
        try:
            plan = _plan(path, None, None, ())
            results.append((path, plan, []))
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
        terminal.echo_json(payload)
    else:
        terminal.show_validation(results)
    from runner.commands.github_output import annotate_diagnostics

    annotate_diagnostics(fmt, [d for _, _, diags in results for d in diags])
    sys.exit(EXIT_USAGE if failed else EXIT_OK)


@cli.command()
@click.argument("recipe", type=click.Path())
@plan_options
@click.option("--json", "as_json", is_flag=True, help="Print the full plan as JSON.")
@click.option("--all", "show_all", is_flag=True, help="List every job, however many.")
@click.option(
    "--diff",
    is_flag=True,
    help="Compare with the output folder (state, else backdrop.lock): new, changed, up to "
    "date, paid but not downloaded, and stale files, with the cost of the change.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "github"]),
    default="text",
    help="json: machine-readable (schemas/plan-diff.schema.json with --diff); markdown: a "
    "pull-request comment of the diff; github: text plus GitHub Actions annotations.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing would be generated, 2 when something would, 1 on any error "
    "(an invalid recipe or bad usage included), as terraform plan does.",
)
def plan(
    recipe: str,
    output_dir: str | None,
    max_jobs: int | None,
    prices: tuple[str, ...],
    as_json: bool,
    show_all: bool,
    diff: bool,
    fmt: str,
    detailed_exitcode: bool,
) -> None:
    """Show the jobs a recipe expands to, their outputs and an estimated cost."""
    from runner.commands.plan import show_plan

    the_plan = _plan(recipe, output_dir, max_jobs, prices)
    show_plan(
        the_plan,
        recipe,
        fmt=fmt,
        diff=diff,
        as_json=as_json,
        show_all=show_all,
        detailed=detailed_exitcode,
    )


@cli.command()
def schema() -> None:
    """Print the recipe JSON Schema (Draft 2020-12)."""
    from runner.recipe.validate import schema_text

    click.echo(schema_text(), nl=False)


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Create a starter recipe, its schema, an example image and a CSV in DIRECTORY."""
    from runner import terminal
    from runner.scaffold import init_project

    try:
        written = init_project(Path(directory))
    except OSError as err:
        raise UsageError(
            f"cannot create the project in {directory}: {err.strerror or err}",
            hint="choose a folder you can write to, e.g. backdrop init my-campaign",
        ) from None
    terminal.show_init(written)


@cli.command()
@click.argument("recipe", type=click.Path())
@plan_options
@click.option("--emulate", is_flag=True, help="Run against the local emulator (no key needed).")
@click.option(
    "--api-url",
    envvar="ONEMIN_API_URL",
    default=API_URL_DEFAULT,
    show_default=True,
    help="API base URL (or ONEMIN_API_URL).",
)
@click.option(
    "--asset-url",
    envvar="ONEMIN_ASSET_URL",
    default=ASSET_URL_DEFAULT,
    show_default=True,
    help="Asset host for downloads (or ONEMIN_ASSET_URL).",
)
@click.option(
    "--concurrency",
    "-j",
    type=click.IntRange(1, 512),
    default=16,
    show_default=True,
    help="Jobs in flight at most (fewer while the API pushes back).",
)
@click.option(
    "--rpm",
    type=FiniteFloat(min=0, min_open=True),
    default=180,
    show_default=True,
    help="API requests per minute, uploads and generations together.",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Tries per request on timeouts, 429 and 5xx.",
)
@click.option(
    "--timeout",
    type=FiniteFloat(min=1),
    default=600,
    show_default=True,
    help="Seconds to wait for one generation.",
)
@click.option("--force", is_flag=True, help="Generate every selected job again, even done ones.")
@click.option("--retry-failed", is_flag=True, help="Run only the jobs that failed last time.")
@click.option(
    "--only",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only jobs whose matrix value matches, e.g. season=spring or market.code=fr-FR.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N selected jobs.")
@click.option("--shard", metavar="K/N", help="Only the K-th of N deterministic slices of the jobs.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--confirm-over",
    type=FiniteFloat(min=0),
    default=5.0,
    show_default=True,
    metavar="USD",
    help="Ask before spending more than this (estimate).",
)
@click.option(
    "--prune",
    is_flag=True,
    help="Delete the images earlier runs wrote for jobs the recipe no longer has.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github"]),
    default="text",
    help="github: GitHub Actions annotations and job summary (also when GITHUB_ACTIONS=true).",
)
@csv_separator_option
def run(
    recipe: str,
    output_dir: str | None,
    max_jobs: int | None,
    prices: tuple[str, ...],
    emulate: bool,
    api_url: str,
    asset_url: str,
    concurrency: int,
    rpm: float,
    max_attempts: int,
    timeout: float,
    force: bool,
    retry_failed: bool,
    only: tuple[str, ...],
    limit: int | None,
    shard: str | None,
    yes: bool,
    confirm_over: float,
    prune: bool,
    fmt: str,
    csv_separator: str,
) -> None:
    """Run a recipe: upload, generate and download every job, then write the reports."""
    import dataclasses
    from contextlib import ExitStack

    from runner import terminal
    from runner.api.client import Timeouts
    from runner.execute.preview import preview_run
    from runner.execute.run import RunOptions, run_plan
    from runner.execute.selection import Selection

    if force and retry_failed:
        raise UsageError("--force and --retry-failed do not go together", hint="choose one")
    the_plan = _plan(recipe, output_dir, max_jobs, prices)
    options = RunOptions(
        concurrency=concurrency,
        rpm=rpm,
        max_attempts=max_attempts,
        timeouts=dataclasses.replace(Timeouts(), generate=timeout),
        selection=Selection.from_cli(only, limit, shard),
        force=force,
        retry_failed=retry_failed,
    )
    preview = preview_run(the_plan, options)
    terminal.show_preview(the_plan, preview, emulate=emulate)
    spend = 0.0 if emulate else preview.cost.total_usd
    if not spend <= confirm_over and not yes:  # written so that a NaN estimate asks too
        _confirm_spend(spend, confirm_over)
    with ExitStack() as stack:
        if emulate:
            api_key, api_url, asset_url = _start_emulator(stack, the_plan.output_dir)
        else:
            api_key = _api_key()
            api_url = _check_url("--api-url", api_url)
            asset_url = _check_url("--asset-url", asset_url)
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
        except BaseException:
            # Whatever stopped the run, what it finished is in the state: report it.
            _write_reports_if_any(the_plan.output_dir, csv_separator)
            raise
    paths = _write_reports(the_plan.output_dir, csv_separator)
    if prune:
        _prune(the_plan.output_dir, yes)
    terminal.show_run_summary(result, paths)
    from runner.commands.github_output import report_run

    report_run(fmt, recipe, the_plan.output_dir, result, preview.cost.total_usd)
    sys.exit(terminal.run_exit_code(result))


def _confirm_spend(spend: float, limit: float) -> None:
    message = f"this run is estimated at ${spend:,.2f}, above --confirm-over ${limit:,.2f}"
    if not sys.stdin.isatty():
        raise UsageError(
            f"{message}, and there is no terminal to ask in",
            hint="add --yes to proceed, or raise --confirm-over; "
            "try --limit 3 first for a cheap trial",
        )
    if not click.confirm(f"{message}. Spend it?", default=False, err=True):
        raise click.exceptions.Abort()


def _api_key() -> str:
    from runner.apikey import from_env

    key = from_env()
    if not key:
        raise UsageError(
            "no API key: set the ONEMIN_API_KEY environment variable",
            hint="export ONEMIN_API_KEY=... (or rehearse offline with --emulate)",
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


def _write_reports_if_any(output_dir: Path, csv_separator: str) -> None:
    from contextlib import suppress

    # No state yet (the run stopped before its first record): nothing to report.
    with suppress(BackdropError):
        _write_reports(output_dir, csv_separator)


def _start_emulator(stack: Any, output_dir: Path) -> tuple[str, str, str]:
    """An emulator that remembers its uploads and results beside the run's state, so that a
    later --emulate run can download them again, as it could from the real asset host."""
    from runner.emulator.config import EmulatorConfig
    from runner.emulator.server import EmulatorServer

    key = "emulator-key"
    folder = output_dir / ".backdrop" / "emulator"
    config = EmulatorConfig(api_key=key, state_dir=folder, credit_limit=EMULATED_CREDITS)
    try:
        server = stack.enter_context(EmulatorServer(config))
    except OSError as err:
        raise UsageError(
            f"cannot start the emulator in {folder}: {err.strerror or err}",
            hint="check that the output folder is writable (or choose another with -o)",
        ) from None
    return key, server.base_url, server.asset_base_url


def _write_reports(output_dir: Path, csv_separator: str) -> Any:
    from runner.execute.state import StateStore
    from runner.report import CSV_SEPARATORS, ReportOptions, write_reports

    options = ReportOptions(csv_separator=CSV_SEPARATORS[csv_separator])
    return write_reports(StateStore.read_snapshot(output_dir), output_dir, options=options)


def _prune(output_dir: Path, yes: bool) -> None:
    from runner import terminal
    from runner.execute.prune import PruneCandidates, prune_outputs

    def confirm(candidates: PruneCandidates) -> bool:
        terminal.show_prunable(candidates)
        if yes:
            return True
        count = len(candidates.stale)
        if not sys.stdin.isatty():
            raise UsageError(
                f"--prune would delete {count} file(s), and there is no terminal to ask in",
                hint="add --yes to delete them",
            )
        return click.confirm(f"Delete these {count} file(s)?", default=False, err=True)

    terminal.show_pruned(prune_outputs(output_dir, confirm))


@cli.command()
@click.argument("outdirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "--merge",
    is_flag=True,
    help="Combine shard folders into one report, written into the first folder.",
)
@click.option("--open", "open_", is_flag=True, help="Open report.html in the default browser.")
@csv_separator_option
def report(outdirs: tuple[str, ...], merge: bool, open_: bool, csv_separator: str) -> None:
    """Rebuild the reports of an output folder from its state, without calling the API."""
    from runner import terminal
    from runner.execute.state import StateStore
    from runner.report import (
        CSV_SEPARATORS,
        ReportOptions,
        merge_snapshots,
        rebase_snapshot,
        write_reports,
    )

    folders = [Path(d) for d in outdirs]
    if len(folders) > 1 and not merge:
        raise UsageError(
            "several output folders given without --merge",
            hint="backdrop report --merge OUT1 OUT2 ... combines shards into OUT1's report",
        )
    into = folders[0]
    snapshot = (
        merge_snapshots([rebase_snapshot(StateStore.read_snapshot(d), d, into) for d in folders])
        if merge
        else StateStore.read_snapshot(into)
    )
    options = ReportOptions(csv_separator=CSV_SEPARATORS[csv_separator])
    paths = write_reports(snapshot, into, merged=merge, options=options)
    terminal.show_report_paths(paths)
    if open_:
        click.launch(str(paths.html))


@cli.command()
@click.argument("outdir", metavar="OUTDIR|RECIPE", type=click.Path())
def verify(outdir: str) -> None:
    """Check the images in OUTDIR (or a recipe's output folder) against backdrop.lock."""
    from runner import terminal
    from runner.report import verify_outputs

    folder = _verify_folder(outdir)
    result = verify_outputs(folder)
    terminal.show_verify(result)
    from runner.commands.github_output import report_verify

    report_verify(str(folder), result)
    sys.exit(EXIT_OK if result.ok else EXIT_JOBS_FAILED)


def _verify_folder(target: str) -> Path:
    """An output folder as given, or the one a recipe writes to (planned, nothing spent)."""
    path = Path(target)
    if not path.is_file():
        return path
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise UsageError(
            f"{target!r} is a file, neither an output folder nor a recipe",
            hint="pass the folder with backdrop.lock, e.g. backdrop verify out/spring-campaign, "
            "or the recipe: backdrop verify spring-campaign.yaml",
        )
    return _plan(target, None, None, ()).output_dir


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address.")
@click.option(
    "--port",
    "-p",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="0 picks a free port.",
)
@click.option(
    "--api-key",
    "emulator_key",
    metavar="KEY",
    help="Accept only this key (default: any non-empty key).",
)
@click.option("--reject-key", is_flag=True, help="Answer every API request with 401.")
@click.option("--latency", metavar="S|LOW-HIGH", help="Seconds per generation, e.g. 2 or 1-5.")
@click.option("--error-rate", metavar="P", help="Share of API requests answered 500/502/503/504.")
@click.option(
    "--charge-then-fail-rate", metavar="P", help="Share of generations charged, then answered 504."
)
@click.option(
    "--rpm-limit",
    type=click.IntRange(min=1),
    help="API requests per minute accepted; beyond it, 429.",
)
@click.option("--no-retry-after", is_flag=True, help="Send 429 without a Retry-After header.")
@click.option("--burst-429", metavar="P", help="Share of requests that start a burst of 429s.")
@click.option("--drop-rate", metavar="P", help="Share of API connections dropped mid-answer.")
@click.option("--truncate-rate", metavar="P", help="Share of downloads cut short.")
@click.option("--credit-limit", type=click.IntRange(min=0), help="Credits before they run out.")
@click.option("--seed", type=int, help="Make the faults repeatable.")
def emulator(
    host: str,
    port: int,
    emulator_key: str | None,
    reject_key: bool,
    latency: str | None,
    error_rate: str | None,
    charge_then_fail_rate: str | None,
    rpm_limit: int | None,
    no_retry_after: bool,
    burst_429: str | None,
    drop_rate: str | None,
    truncate_rate: str | None,
    credit_limit: int | None,
    seed: int | None,
) -> None:
    """Serve the local 1min.ai emulator on loopback, with optional faults (P: 0.2 or 20%)."""
    from runner import terminal
    from runner.emulator.config import config_from_options
    from runner.emulator.server import serve_forever

    try:
        config = config_from_options(
            api_key=emulator_key,
            reject_key=reject_key,
            latency=latency,
            error_rate=error_rate,
            charge_then_fail_rate=charge_then_fail_rate,
            rpm_limit=rpm_limit,
            retry_after=not no_retry_after,
            burst_429=burst_429,
            drop_rate=drop_rate,
            truncate_rate=truncate_rate,
            credit_limit=credit_limit,
            seed=seed,
        )
        serve_forever(config, host, port, on_ready=terminal.show_emulator_ready)
    except ValueError as err:
        raise UsageError(str(err)) from None
    except OSError as err:
        raise UsageError(
            f"cannot listen on {host}:{port}: {err.strerror or err}",
            hint="choose another --port (0 picks a free one)",
        ) from None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: the one place where errors become messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--detailed-exitcode" in args:
        from runner.commands.plan import detailed_exit_code

        sys.exit(detailed_exit_code(lambda: _main(args)))
    _main(args)


def _main(args: list[str]) -> None:
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
        from runner import github, terminal

        if github.enabled(_format_of(args)):
            click.echo("\n".join(github.diagnostic_commands(err.diagnostics())))
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


def _format_of(args: list[str]) -> str | None:
    """The --format value, for the error boundary (click has not parsed it when errors rise)."""
    for number, arg in enumerate(args):
        if arg.startswith("--format="):
            return arg.partition("=")[2]
        if arg == "--format" and number + 1 < len(args):
            return args[number + 1]
    return None


__all__ = ["EXIT_JOBS_FAILED", "cli", "main"]
