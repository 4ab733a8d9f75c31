"""Drive the real CLI entry point (error boundary included) and capture what a user would see."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from runner.cli import main


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> CliResult:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    captured = capsys.readouterr()
    code = exc.value.code
    return CliResult(code if isinstance(code, int) else 1, captured.out, captured.err)
