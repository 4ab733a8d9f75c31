"""`backdrop run` and `plan --diff` of tests' tiny.yaml, through the real CLI, against an
in-process emulator: what a run was charged for, and what the diff announced."""

from __future__ import annotations

import json

import pytest

from runner.emulator.server import EmulatorServer
from tests.clihelp import CliResult, run_cli

FAST = ("--rpm", "60000")  # pacing is tested with a fake clock elsewhere


def run(capsys: pytest.CaptureFixture[str], server: EmulatorServer, *args: str) -> CliResult:
    """`backdrop run tiny.yaml ARGS` against the emulator."""
    urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
    result = run_cli(capsys, "run", "tiny.yaml", "-y", *urls, *FAST, *args)
    assert result.code == 0, result.out + result.err
    return result


def charged(capsys: pytest.CaptureFixture[str], server: EmulatorServer, *args: str) -> int:
    """The images `backdrop run tiny.yaml ARGS` was charged for."""
    before = sum(entry.n for entry in server.api.ledger.entries)
    run(capsys, server, *args)
    return sum(entry.n for entry in server.api.ledger.entries) - before


def planned(capsys: pytest.CaptureFixture[str], *args: str) -> int:
    """The images `plan --diff` says a run would generate."""
    result = run_cli(capsys, "plan", "tiny.yaml", "--diff", "--format", "json", *args)
    assert result.code == 0, result.err
    return int(json.loads(result.out)["totals"]["images_to_generate"])
