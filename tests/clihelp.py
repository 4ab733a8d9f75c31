"""Drive the real CLI entry point (error boundary included) and capture what a user would see."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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


HIDDEN_FROM_CHILDREN = ("GITHUB_", "ONEMIN_", "BACKDROP_DEBUG")


def backdrop_in(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`backdrop ARGS` run in `cwd` as a child would be, but in this process: the real entry
    point, its error boundary and exit code, and what it wrote to stdout and stderr.

    For tests about what a command does rather than about the process (signals, closed pipes,
    start-up, the environment): a child costs about 0.4 s of CPU to start and import backdrop.
    `env` adds variables for the call only (a child's `env={**os.environ, ...}`).
    """
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    before = Path.cwd()
    # As a child started with a clean environment would see it, even from a module fixture
    # (where tests/conftest.py's per-test clean-up has not run): no real key, URL or CI.
    hidden = {k: v for k, v in os.environ.items() if k.startswith(HIDDEN_FROM_CHILDREN)}
    for name in hidden:
        del os.environ[name]
    added = dict(env or {})
    replaced = {name: os.environ[name] for name in added if name in os.environ}
    os.environ.update(added)
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code
    finally:
        os.chdir(before)
        for name in added:
            os.environ.pop(name, None)
        os.environ.update(replaced)
        os.environ.update(hidden)
    returncode = code if isinstance(code, int) else 0 if code is None else 1
    return subprocess.CompletedProcess(
        ["backdrop", *args], returncode, out.getvalue(), err.getvalue()
    )
