"""GitHub workflow commands (escaping, the 10-per-kind cap) and job summaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.commands import github
from runner.commands.github_output import report_run, report_verify
from runner.diagnostics import Diagnostic, Span
from runner.execute.run_plan import RunResult
from runner.execute.scheduler import JobFailure
from runner.records.lock_reader import VerifyResult


def test_message_escapes_percent_and_newlines():
    annotation = github.Annotation("error", "100% of 5:00\r\nfails, really")
    assert annotation.command() == "::error::100%25 of 5:00%0D%0Afails, really"


def test_properties_escape_colon_and_comma_too():
    annotation = github.Annotation(
        "warning", "a: b, c%\nd", file="C:/a,b.yaml", line=3, col=4, title="x: y, 50%"
    )
    assert annotation.command() == (
        "::warning file=C%3A/a%2Cb.yaml,line=3,col=4,title=x%3A y%2C 50%25::a: b, c%25%0Ad"
    )


def test_diagnostic_becomes_an_annotation_with_its_span(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    span = Span("recipes/spring.yaml", 7, 12, 16, "  quality: hgih\n")
    diagnostic = Diagnostic(
        "50% off: 'hgih'\nis wrong", path="defaults.quality", span=span, hint="write high"
    )
    (line,) = github.diagnostic_commands([diagnostic])
    assert line == (
        "::error file=recipes/spring.yaml,line=7,col=12,endLine=7,endColumn=15,"
        "title=Backdrop%3A recipe error::defaults.quality: 50%25 off: 'hgih'%0Ais wrong"
        "%0Ahint: write high"
    )


def test_only_problems_in_a_recipe_are_titled_recipe_errors(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    in_csv = Diagnostic("bad cell", span=Span("data/markets.csv", 3, 1, 4, "x,y\n"))
    in_review = Diagnostic("not UTF-8", file="out/c/review.yaml")
    in_lock = Diagnostic("too large", file="out/c/backdrop.lock", severity="warning")
    nowhere = Diagnostic("4 job(s) are not approved and ready")
    titles = [
        line.split("title=")[1].split("::")[0]
        for line in github.diagnostic_commands([in_csv, in_review, in_lock, nowhere])
    ]
    assert titles == [
        "Backdrop%3A recipe error",
        "Backdrop%3A review.yaml error",
        "Backdrop%3A backdrop.lock warning",
        "Backdrop%3A error",
    ]


def test_annotation_path_is_relative_to_the_workspace(monkeypatch, tmp_path):
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    recipe = tmp_path / "campaigns" / "r.yaml"
    span = Span(str(recipe), 1, 1, 2, "x\n")
    (line,) = github.diagnostic_commands([Diagnostic("bad", span=span)])
    assert line.startswith("::error file=campaigns/r.yaml,line=1,")


def test_only_ten_of_each_kind_then_one_notice_with_the_rest():
    errors = [github.Annotation("error", f"e{i}") for i in range(25)]
    warnings = [github.Annotation("warning", f"w{i}") for i in range(3)]
    lines = github.capped([*errors, *warnings])
    assert [line.split("::")[1] for line in lines].count("error") == 10
    assert [line.split("::")[1] for line in lines].count("warning") == 3
    notice = "::notice title=Backdrop%3A more problems::15 more errors not shown"
    assert lines[-1].startswith(notice)
    assert len(lines) == 14


def _failures(count: int) -> tuple[JobFailure, ...]:
    return tuple(
        JobFailure(f"k{i}", f"market=m{i}", {"market": {"code": f"m{i}"}}, "the API said: 50% <no>")
        for i in range(count)
    )


def _result(tmp_path: Path, failures: tuple[JobFailure, ...]) -> RunResult:
    return RunResult(
        "run-1", tmp_path, 70, 70 - len(failures), 0, len(failures), 0, 70 - len(failures),
        1.0, failures, None, None, False, None,
    )  # fmt: skip


def test_failed_jobs_become_at_most_ten_errors_on_the_recipe_and_a_summary(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report_run("github", "recipes/r.yaml", tmp_path / "out", _result(tmp_path, _failures(12)), 1.5)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 11
    assert lines[0] == (
        "::error file=recipes/r.yaml,line=1,title=Backdrop%3A job failed::"
        "market=m0: the API said: 50%25 <no>"
    )
    assert "2 more errors not shown" in lines[-1]
    text = summary.read_text()
    assert "58 done, 0 up to date, 12 failed" in text
    assert "$1.50" in text
    assert "| market.code=m11 | the API said\\: 50% \\<no\\> |" in text  # all 12, escaped
    assert "<code>out/report.html</code>" in text
    assert str(tmp_path) not in text  # no absolute path in what GitHub shows


def test_no_annotations_outside_github_but_the_summary_when_asked(tmp_path, monkeypatch, capsys):
    report_run("text", "r.yaml", tmp_path, _result(tmp_path, _failures(2)), None)
    assert capsys.readouterr().out == ""  # nothing on stdout, no summary file named
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    report_run("text", "r.yaml", tmp_path, _result(tmp_path, _failures(2)), None)
    assert capsys.readouterr().out.count("::error ") == 2


def test_summary_stays_well_under_the_limit(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report_run("text", "r.yaml", tmp_path, _result(tmp_path, _failures(20_000)), None)
    missing = tuple(f"folder/{'x' * 200}-{i}.png" for i in range(20_000))
    report_verify("out", VerifyResult(missing, (), ()))
    assert summary.stat().st_size < github.SUMMARY_LIMIT
    assert "and 19,950 more (see results.csv)" in summary.read_text()
    github.append_summary("y" * (2 * github.SUMMARY_LIMIT))
    assert summary.stat().st_size < 2 * github.SUMMARY_LIMIT


@pytest.mark.parametrize("value", ["true", None])
def test_enabled(monkeypatch, value):
    if value:
        monkeypatch.setenv("GITHUB_ACTIONS", value)
    assert github.enabled("github")
    assert github.enabled("text") is bool(value)
    assert github.enabled(None) is bool(value)
    assert not github.enabled("json")  # annotations would break the JSON on stdout
    assert not github.enabled("markdown")
