"""junit.xml: one testcase per job, failures with the API's message, always well-formed, valid
against Ant's and Jenkins' JUnit schemas, and read by junitparser with results.json's counts."""

from __future__ import annotations

import dataclasses
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from runner.records.run_records import INTERNAL_ERROR, GenerationRecord
from runner.report.junit import ERRORED, FAILED, HOSTNAME, render_junit
from runner.report.merge import merge_snapshots, rebase_snapshot
from runner.report.writer import write_reports
from tests.junit_support import (
    SCHEMA_FILES,
    assert_counts_match_results,
    assert_valid,
    emitted,
    read_suite,
    schema_errors,
)
from tests.report_snapshots import build_snapshot, campaign_specs, make_sources

# Every element and attribute render_junit can write: the fixtures below must produce them all,
# so that validation covers each one.
EVERY_PART = {
    "testsuite", "testsuite@name", "testsuite@tests", "testsuite@failures", "testsuite@errors",
    "testsuite@skipped", "testsuite@time", "testsuite@timestamp", "testsuite@hostname",
    "properties", "property", "property@name", "property@value",
    "testcase", "testcase@name", "testcase@classname", "testcase@time",
    "failure", "failure@message", "failure@type", "error", "error@message", "error@type",
    "skipped", "skipped@message", "system-out", "system-err",
}  # fmt: skip


def every_kind_of_job():
    """Done, done by an earlier run, failed, failed by a bug, paid but not downloaded, not run."""
    specs = campaign_specs()
    specs[7].status = "pending"
    specs[8].status = "generated"  # paid, not downloaded: reports show it as not finished
    specs[9].status = "failed"
    specs[9].error = f"{INTERNAL_ERROR}KeyError: 'size'"
    return specs


def _written(tmp_path: Path, specs=None, **changes) -> Path:
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), specs or campaign_specs())
    snapshot = dataclasses.replace(snapshot, **changes)
    return write_reports(snapshot, tmp_path)["junit.xml"]


def _suite(tmp_path: Path, specs=None) -> ET.Element:
    return ET.parse(_written(tmp_path, specs)).getroot()


def _lines(suite: ET.Element) -> list[str]:
    out = suite.find("system-out")
    assert out is not None and out.text
    return out.text.splitlines()


def test_one_testcase_per_job_and_failures_carry_the_message(tmp_path: Path) -> None:
    suite = _suite(tmp_path, campaign_specs())
    assert suite.tag == "testsuite" and suite.get("name") == "spring-campaign"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("12", "1", "0")
    cases = suite.findall("testcase")
    assert len(cases) == 12
    assert {case.get("classname") for case in cases} == {"spring-campaign"}
    assert cases[0].get("name") == "product=MUG-01 season=spring market=fr-FR"
    failures = [case for case in cases if case.find("failure") is not None]
    assert len(failures) == 1
    failure = failures[0].find("failure")
    assert failure is not None and failure.get("type") == FAILED
    assert failure.get("message") == (
        'The prompt was rejected by the safety system <b>"policy"</b> & more'
    )
    assert cases[4].get("name", "").endswith("market=fr-FR")
    assert "<script>" in cases[4].get("name", "")  # kept as text, escaped in the file


def test_jobs_done_earlier_pass_and_unrun_jobs_are_skipped(tmp_path: Path) -> None:
    suite = _suite(tmp_path, every_kind_of_job())
    cases = suite.findall("testcase")
    assert list(cases[2]) == []  # done by an earlier run: a pass, told as done
    assert _lines(suite)[2].startswith("product=MUG-01 season=summer market=fr-FR: done;")
    assert "; generated 2024-04-20T09:15:00Z;" in _lines(suite)[2]
    assert [child.tag for child in cases[7]] == ["skipped"]
    assert [child.tag for child in cases[8]] == ["skipped"]  # paid, never downloaded
    assert [cases[7][0].get("message"), cases[8][0].get("message")] == [
        "not run yet",
        "paid for, not downloaded yet",
    ]
    assert suite.get("skipped") == "2"


def test_a_job_failed_by_a_bug_is_an_error_not_a_failure(tmp_path: Path) -> None:
    suite = _suite(tmp_path, every_kind_of_job())
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")
    error = suite.findall("testcase")[9].find("error")
    assert error is not None and error.get("type") == ERRORED
    assert error.get("message") == "internal error: KeyError: 'size'"


@pytest.mark.parametrize("schema", sorted(SCHEMA_FILES))
def test_valid_against_the_schema_for_every_kind_of_job(tmp_path: Path, schema: str) -> None:
    junit = _written(tmp_path, every_kind_of_job())
    assert schema_errors(junit, schema) == []
    assert emitted(junit) == EVERY_PART  # so every part we write was validated
    nothing_generated = _written(tmp_path / "again", every_kind_of_job(), generations=())
    assert schema_errors(nothing_generated, schema) == []


def test_the_schemas_really_check(tmp_path: Path) -> None:
    """What junit.xml used to be refused by both: a testcase's <properties>, a zoned timestamp."""
    junit = _written(tmp_path)
    good = junit.read_bytes()
    nested = good.replace(b"</testcase>", b"<properties /></testcase>", 1)
    zoned = good.replace(b'timestamp="2024-05-01T14:03:00"', b'timestamp="x"')
    assert zoned != good
    for schema in SCHEMA_FILES:
        assert schema_errors(nested, schema), schema
    assert schema_errors(zoned, "ant")  # Jenkins takes any text there
    no_host = good.replace(b' hostname="localhost"', b"")
    assert schema_errors(no_host, "ant")


def test_read_by_junitparser_with_the_counts_of_results_json(tmp_path: Path) -> None:
    junit = _written(tmp_path, every_kind_of_job())
    assert_counts_match_results(junit, tmp_path / "results.json")
    suite = read_suite(junit)
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (12, 1, 1, 2)
    assert suite.hostname == HOSTNAME and suite.timestamp == "2024-05-01T14:03:00"


def test_merged_report_is_valid_and_counts_as_results_json(tmp_path: Path) -> None:
    sources = make_sources(tmp_path / "src")
    shards = []
    for number in (1, 2):
        specs = every_kind_of_job()
        for index, spec in enumerate(specs):
            if index % 2 != number - 1 and spec.status == "done":
                spec.status = "pending"  # the other shard's job
        folder = tmp_path / f"shard-{number}"
        snapshot = build_snapshot(folder, sources, specs)
        shards.append((folder, dataclasses.replace(snapshot, run_id=f"run-{number}")))
    into = shards[0][0]
    merged = merge_snapshots([rebase_snapshot(s, folder, into) for folder, s in shards])
    paths = write_reports(merged, into, merged=True)
    assert_valid(paths["junit.xml"])
    assert_counts_match_results(paths["junit.xml"], paths["results.json"])
    assert "files ../shard-2/job-003.webp" in paths["junit.xml"].read_text("utf-8")


@pytest.mark.parametrize(
    ("runs", "timestamp"),
    [
        (("20240501T140300Z-5e7a11",), "2024-05-01T14:03:00"),
        (("20240420T091500Z-0ea71e", "20240501T140300Z-5e7a11"), "2024-05-01T14:03:00"),
        (("20240501T140300Z-5e7a11", None), "2024-05-01T14:03:00"),  # a run the lock omits
        (("20241399T250000Z-5e7a11",), "1970-01-01T00:00:00"),  # a damaged record: still valid
        ((), "1970-01-01T00:00:00"),  # nothing generated yet
    ],
)
def test_timestamp_is_the_latest_generation_in_utc_without_fraction_or_zone(
    tmp_path, runs, timestamp
) -> None:
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), campaign_specs()[:1])
    generations = tuple(
        GenerationRecord(f"uuid-{number}", snapshot.jobs[0].key, run, 1, "low", "1024x1024")
        for number, run in enumerate(runs)
    )
    junit = render_junit(dataclasses.replace(snapshot, generations=generations))
    assert ET.fromstring(junit).get("timestamp") == timestamp
    assert_valid(junit)


def test_no_time_of_a_run_is_written(tmp_path: Path) -> None:
    """What a run took changes from one run to the next, without the folder changing."""
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), every_kind_of_job())
    faster = dataclasses.replace(
        snapshot,
        run_id="20990101T000000Z-ffffff",
        started_at="2099-01-01T00:00:00.000Z",
        finished_at="2099-01-01T00:00:01.000Z",
        tool_version="9.9.9",
        jobs=tuple(dataclasses.replace(job, duration_s=0.1, attempts=7) for job in snapshot.jobs),
    )
    assert render_junit(faster) == render_junit(snapshot)
    suite = ET.fromstring(render_junit(snapshot))
    times = {suite.get("time"), *(case.get("time") for case in suite.findall("testcase"))}
    assert times == {"0.000"}


def test_hostname_is_the_same_on_every_machine(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "janes-macbook.local")
    junit = _written(tmp_path).read_text("utf-8")
    assert f' hostname="{HOSTNAME}"' in junit and "janes-macbook" not in junit


def test_suite_output_has_each_jobs_details(tmp_path: Path) -> None:
    suite = _suite(tmp_path, every_kind_of_job())
    lines = _lines(suite)
    assert len(lines) == 12
    key = suite.findall("testcase")  # same order as the lines
    assert len(key) == 12
    assert lines[0].startswith("product=MUG-01 season=spring market=fr-FR: done; key ")
    assert lines[0].endswith(
        "; take 1; generated 2024-05-01T14:03:00Z; record uuid-0;"
        " files job-000-1.webp, job-000-2.webp"
    )
    assert "failed; key " in lines[1] and "attempt" not in lines[1]


def test_values_from_a_damaged_state_still_make_a_valid_file(tmp_path: Path) -> None:
    specs = every_kind_of_job()
    specs[1].error = "bad\x00 byte\x1b[31m and \ufffe here,\n日本"
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), specs)
    jobs = list(snapshot.jobs)
    jobs[0] = dataclasses.replace(jobs[0], label="\x01\x02", record_uuid="uuid-\x1b[31m")
    damaged = dataclasses.replace(snapshot, recipe_name="\x07 ", jobs=tuple(jobs))
    junit = render_junit(damaged)
    assert_valid(junit)
    suite = ET.fromstring(junit)
    assert suite.get("name") == "backdrop" and suite.get("time") == "0.000"


def test_characters_illegal_in_xml_are_removed(tmp_path: Path) -> None:
    specs = campaign_specs()
    specs[1].error = "bad\x00 byte\x1b[31m and \ufffe here, 日本"
    specs[0].vars = {**specs[0].vars, "season": "spring\x07"}
    suite = _suite(tmp_path, specs)  # parses: the file is well-formed
    cases = suite.findall("testcase")
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == "bad byte[31m and  here, 日本"
    assert cases[0].get("name") == "product=MUG-01 season=spring market=fr-FR"
