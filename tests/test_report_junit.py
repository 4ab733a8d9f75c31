"""junit.xml: one testcase per job, failures with the API's message, always well-formed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from runner.report import write_reports
from tests.report_snapshots import build_snapshot, campaign_specs, make_sources


def _suite(tmp_path: Path, specs) -> ET.Element:
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), specs)
    return ET.parse(write_reports(snapshot, tmp_path)["junit.xml"]).getroot()


def _status(case: ET.Element) -> str | None:
    for prop in case.iter("property"):
        if prop.get("name") == "backdrop.status":
            return prop.get("value")
    return None


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
    assert failure is not None
    assert failure.get("message") == (
        'The prompt was rejected by the safety system <b>"policy"</b> & more'
    )
    assert cases[4].get("name", "").endswith("market=fr-FR")
    assert "<script>" in cases[4].get("name", "")  # kept as text, escaped in the file


def test_skipped_jobs_pass_and_unrun_jobs_are_skipped(tmp_path: Path) -> None:
    specs = campaign_specs()
    specs[7].status = "pending"
    suite = _suite(tmp_path, specs)
    cases = suite.findall("testcase")
    assert _status(cases[2]) == "skipped"
    assert cases[2].find("skipped") is None and cases[2].find("failure") is None
    assert cases[7].find("skipped") is not None and suite.get("skipped") == "1"


def test_characters_illegal_in_xml_are_removed(tmp_path: Path) -> None:
    specs = campaign_specs()
    specs[1].error = "bad\x00 byte\x1b[31m and \ufffe here, 日本"
    specs[0].vars = {**specs[0].vars, "season": "spring\x07"}
    suite = _suite(tmp_path, specs)  # parses: the file is well-formed
    cases = suite.findall("testcase")
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == "bad byte[31m and  here, 日本"
    assert cases[0].get("name") == "product=MUG-01 season=spring market=fr-FR"
