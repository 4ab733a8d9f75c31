"""Every line the CLI prints goes through runner/commands/terminal.py (or progress.py), over
the guarded streams of runner/commands/streams.py: a new raw print path is a test failure, not a
review comment."""

from __future__ import annotations

import ast
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[1] / "runner"
# The modules that may write to stdout or stderr themselves, and why.
PRINTERS = {
    "commands/terminal.py": "the CLI's output functions",
    "commands/progress.py": "run progress (plain lines, or rich's live display on a styled stream)",
    "commands/streams.py": "the guard itself, and its last words when stdout cannot be written",
    "emulator/server.py": "`python -m runner.emulator.server` (benchmarks) prints its URL",
}


def _prints(tree: ast.AST) -> list[int]:
    """Lines that call print, click.echo/secho, sys.stdout/stderr.write or build a rich Console."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = ast.unparse(func)
        if name in ("print", "click.echo", "click.secho", "Console", "rich.console.Console") or (
            isinstance(func, ast.Attribute)
            and func.attr == "write"
            and ast.unparse(func.value) in ("sys.stdout", "sys.stderr", "out", "sys.__stdout__")
        ):
            found.append(node.lineno)
    return found


def test_only_the_output_modules_print() -> None:
    offenders = {}
    for path in sorted(RUNNER.rglob("*.py")):
        relative = path.relative_to(RUNNER).as_posix()
        if relative in PRINTERS:
            continue
        lines = _prints(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            offenders[relative] = lines
    assert offenders == {}, "print through runner/commands/terminal.py (echo, echo_err, ...)"


def test_the_check_finds_a_raw_print() -> None:
    tree = ast.parse("import click, sys\nclick.echo(x)\nsys.stderr.write(y)\nprint(z)\n")
    assert _prints(tree) == [2, 3, 4]
