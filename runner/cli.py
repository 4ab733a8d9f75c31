"""The command line: the group, one line per command, and the one error boundary.

`backdrop --help` lists the commands in the order people use them (runner/commands/workflow.py).

Each command lives in runner/commands/<name>.py and only parses, calls the core and shows the
result (see runner/commands/terminal.py); here errors become messages and exit codes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from runner import __version__
from runner.commands.emulator import emulator
from runner.commands.export import export
from runner.commands.init import init
from runner.commands.plan import plan
from runner.commands.report import report
from runner.commands.review import review
from runner.commands.run import run
from runner.commands.schema import schema
from runner.commands.status import status
from runner.commands.validate import validate
from runner.commands.verify import verify
from runner.commands.workflow import WorkflowGroup
from runner.diagnostics import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_JOBS_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    BackdropError,
)


@click.group(
    cls=WorkflowGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="\b\nA campaign goes: init, validate, plan, run, review, export.\n"
    "'backdrop status RECIPE' says where it stands and what to run next.\n"
    "'backdrop COMMAND --help' shows what a command takes.",
)
@click.version_option(__version__, prog_name="backdrop")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for internal errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Backdrop: YAML recipes in, batches of AI background replacements out (1min.ai)."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


cli.add_command(validate)
cli.add_command(plan)
cli.add_command(schema)
cli.add_command(init)
cli.add_command(run)
cli.add_command(report)
cli.add_command(verify)
cli.add_command(emulator)
cli.add_command(export)
cli.add_command(review)
cli.add_command(status)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: the one place where errors become messages and exit codes."""
    _without_httpx_command_line()
    args = list(sys.argv[1:] if argv is None else argv)
    if "--detailed-exitcode" in args:
        from runner.commands.plan import detailed_exit_code

        sys.exit(detailed_exit_code(lambda: _main(args)))
    _main(args)


def _without_httpx_command_line() -> None:
    """`import httpx` also imports httpx's own command-line client when its extras are there
    (rich, pygments with its lexers' table: ~55 ms of CPU), and rich is installed for our live
    display. Backdrop never runs that client; a None entry makes that one import fail, which
    httpx expects (it then defines a stub `httpx.main`). Only a process that calls main() (the
    `backdrop` command, or a program running it in-process) does this, and only before its
    first `import httpx`; a program that only imports runner as a library keeps httpx whole."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def _main(args: list[str]) -> None:
    debug = "--debug" in args or os.environ.get("BACKDROP_DEBUG") == "1"
    from runner.commands.streams import guarded_stdio, pipe_safe_stdio

    with pipe_safe_stdio(), guarded_stdio():
        _error_boundary(args, debug)


def _error_boundary(args: list[str], debug: bool) -> None:
    from runner.commands import terminal

    try:
        cli.main(args=args, prog_name="backdrop", standalone_mode=False)
    except click.exceptions.Abort:
        terminal.echo_err("Aborted.")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as err:
        err.show()  # to the guarded stderr, like everything else
        sys.exit(EXIT_USAGE if err.exit_code == 2 else err.exit_code)
    except click.exceptions.Exit as err:
        sys.exit(err.exit_code)
    except BackdropError as err:
        from runner.commands import github

        if github.enabled(_format_of(args)):
            terminal.annotate(github.diagnostic_commands(err.diagnostics()))
        terminal.show_error(err)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        terminal.echo_err("Interrupted.")
        sys.exit(EXIT_INTERRUPTED)
    except SystemExit:
        raise
    except Exception as err:  # the boundary: anything else is our bug
        if debug:  # printed here, while stderr is still guarded: a message may hold any value
            import traceback

            terminal.echo_err(traceback.format_exc().rstrip("\n"))
        terminal.echo_err(f"internal error: {type(err).__name__}: {err}")
        what = (
            "report it with the traceback above"
            if debug
            else "re-run with --debug for details and report it"
        )
        terminal.echo_err(f"    hint: this is a bug in backdrop; {what}")
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
