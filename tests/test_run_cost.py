"""The cost a run reports is what it generated, as the emulator's ledger charged it, in the
terminal and the GitHub job summary; results.json and report.html describe the folder: what
its generations have cost so far."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from runner.emulator.config import EmulatorConfig
from runner.emulator.faults import FaultInjector
from runner.emulator.server import EmulatorServer
from runner.recipe.model import DEFAULT_PRICES
from tests.clihelp import CliResult, run_cli

EXAMPLE = Path(__file__).parent / "fixtures" / "example"
KEY = "sk-TEST-run-cost-93be"
RECIPE = """\
version: 1
name: pair
defaults: { size: 1024x1024, quality: low, n: 1, output_format: webp }
matrix:
  season: [spring, summer]
image: images/mug.png
prompt: "a ceramic mug in {{ season }}, soft light"
output: "{{ season }}/mug"
"""
JOB = DEFAULT_PRICES.price("low", "1024x1024")  # $0.011: the two jobs are $0.02 together
OUT = Path("out") / "pair"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "images").mkdir()
    shutil.copy(EXAMPLE / "images" / "mug.png", tmp_path / "images" / "mug.png")
    (tmp_path / "pair.yaml").write_text(RECIPE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    return tmp_path


def run(capsys, server: EmulatorServer, *args: str) -> CliResult:
    urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)
    return run_cli(capsys, "run", "pair.yaml", "-y", "--rpm", "60000", *urls, *args)


def charged_usd(server: EmulatorServer) -> float:
    return sum(entry.n for entry in server.api.ledger.entries) * JOB


def shown_costs(project: Path, result: CliResult) -> dict[str, str | None]:
    """The cost each place shows: the latest run's (terminal, summary), the folder's so far
    (results.json, report.html); None: it shows none."""
    summary = (project / "summary.md").read_text().split("### Backdrop run")[-1]
    results = json.loads((OUT / "results.json").read_text("utf-8"))
    html = (OUT / "report.html").read_text("utf-8")

    def after(text: str, words: str) -> str | None:
        return text.split(words)[1].split()[0] if words in text else None

    return {
        "terminal": after(result.out, "Estimated cost of what was generated: "),
        "summary": after(summary, "Estimated cost of what was generated: "),
        "results.json": f"${results['estimated_cost_usd']:,.2f}",
        "report.html": after(html, "estimated cost so far "),
    }


def test_nothing_charged_costs_nothing_when_every_job_fails(project, capsys):
    config = EmulatorConfig(api_key=KEY, error_rate=1.0, cache_results=True)
    with EmulatorServer(config) as server:
        result = run(capsys, server, "--max-attempts", "1")
        assert result.code == 1, result.err
        assert "0 done, 0 up to date, 2 failed" in result.out
        assert server.api.ledger.entries == []
    assert set(shown_costs(project, result).values()) == {"$0.00"}  # the summary said $0.02
    assert json.loads((OUT / "results.json").read_text())["estimated_cost_usd"] == 0


def test_a_job_charged_then_failed_counts_and_an_up_to_date_rerun_costs_nothing(project, capsys):
    config = EmulatorConfig(api_key=KEY, truncate_rate=1.0, cache_results=True, seed=1)
    with EmulatorServer(config) as server:
        cut = run(capsys, server, "--max-attempts", "1")  # generated, every download cut short
        assert "0 done, 0 up to date, 2 failed" in cut.out
        assert charged_usd(server) == pytest.approx(2 * JOB)
        assert set(shown_costs(project, cut).values()) == {"$0.02"}  # paid for, though failed
        results = json.loads((OUT / "results.json").read_text())
        assert results["estimated_cost_usd"] == pytest.approx(2 * JOB)

        server.api.faults = FaultInjector(dataclasses.replace(config, truncate_rate=0.0))
        fetched = run(capsys, server)  # the paid results, only downloaded: no new charge
        assert fetched.code == 0, fetched.err
        assert charged_usd(server) == pytest.approx(2 * JOB)
        run_and_folder = {"terminal": "$0.00", "summary": "$0.00"}
        run_and_folder |= {"results.json": "$0.02", "report.html": "$0.02"}  # paid earlier
        assert shown_costs(project, fetched) == run_and_folder
        again = run(capsys, server)
        assert "0 done, 2 up to date, 0 failed" in again.out
        assert shown_costs(project, again) == run_and_folder


def test_an_emulated_run_says_nothing_was_spent(project, capsys, monkeypatch):
    result = run_cli(capsys, "run", "pair.yaml", "-y", "--emulate")
    assert result.code == 0, result.err
    assert "Emulator: nothing was spent; with 1min.ai, what was generated would cost $0.02" in (
        result.out
    )
    assert "Estimated cost of what was generated" not in (project / "summary.md").read_text()
