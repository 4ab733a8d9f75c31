"""The money guard's "no" and the pacing of an emulated run, through the real CLI."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner.api.limits import DEFAULT_RPM
from tests.clihelp import run_cli

EXAMPLE = Path(__file__).parent / "fixtures" / "example"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "campaign")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "campaign" / "spring-campaign.yaml"


def test_answering_no_at_the_money_guard_exits_1_and_spends_nothing(recipe: Path) -> None:
    controller, terminal = pty.openpty()  # a real terminal to ask in
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", str(recipe), "--price", "medium=1",
         "--api-url", "http://127.0.0.1:9", "--asset-url", "http://127.0.0.1:9"],
        cwd=REPO,
        env={**os.environ, "ONEMIN_API_KEY": "sk-TEST-guard-12345678", "NO_COLOR": "1"},
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    os.close(terminal)
    os.write(controller, b"n\n")
    _, err = proc.communicate(timeout=60)
    os.close(controller)
    assert proc.returncode == 1, err
    assert "Spend it? [y/N]" in err
    assert "Not confirmed: nothing was spent." in err
    assert "Aborted" not in err
    assert not (recipe.parent / "out").exists()


class _Captured(Exception):
    pass


@pytest.mark.parametrize(("extra", "paced"), [((), False), (("--rpm", "30"), True)])
def test_an_emulated_run_is_paced_only_when_asked(recipe, capsys, monkeypatch, extra, paced):
    seen = []

    def capture(plan: object, options: object, **kwargs: object) -> None:
        seen.append(options)
        raise _Captured

    monkeypatch.setattr("runner.execute.run_plan.run_plan", capture)
    monkeypatch.setattr("runner.commands.run_steps.write_reports_if_any", lambda *args: None)
    run_cli(capsys, "run", str(recipe), "--emulate", "-y", *extra)
    (options,) = seen
    assert options.rpm == (30 if paced else options.rpm)
    assert (options.rpm <= DEFAULT_RPM) is paced


def test_a_real_run_keeps_the_documented_default_pace(recipe, capsys, monkeypatch):
    seen = []

    def capture(plan: object, options: object, **kwargs: object) -> None:
        seen.append(options)
        raise _Captured

    monkeypatch.setenv("ONEMIN_API_KEY", "sk-TEST-pace-12345678")
    monkeypatch.setattr("runner.execute.run_plan.run_plan", capture)
    monkeypatch.setattr("runner.commands.run_steps.write_reports_if_any", lambda *args: None)
    run_cli(capsys, "run", str(recipe), "-y", "--api-url", "http://127.0.0.1:9")
    assert seen[0].requests_per_minute == DEFAULT_RPM
