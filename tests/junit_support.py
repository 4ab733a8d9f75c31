"""junit.xml checked as CI tools check it: against Ant's and Jenkins' schemas (lxml's XSD
validator, the real files in tests/junit_schemas/), and read by junitparser."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite
from lxml import etree

SCHEMAS = Path(__file__).parent / "junit_schemas"
SCHEMA_FILES = {"ant": "JUnit.xsd", "jenkins": "junit-10.xsd"}


@functools.cache
def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / SCHEMA_FILES[name])))


def schema_errors(junit: Path | bytes, name: str) -> list[str]:
    """What the schema finds wrong with the file, as 'line N: message' (empty when valid)."""
    data = junit.read_bytes() if isinstance(junit, Path) else junit
    checker = schema(name)
    document = etree.fromstring(data, etree.XMLParser(resolve_entities=False)).getroottree()
    if checker.validate(document):
        return []
    return [f"line {error.line}: {error.message}" for error in checker.error_log]


def assert_valid(junit: Path | bytes) -> None:
    for name in SCHEMA_FILES:
        assert schema_errors(junit, name) == [], f"not valid against {name}'s schema"


def emitted(junit: Path | bytes) -> set[str]:
    """Every element, and every element@attribute, the file holds."""
    data = junit.read_bytes() if isinstance(junit, Path) else junit
    found: set[str] = set()
    for element in etree.fromstring(data).iter():
        found.add(str(element.tag))
        found.update(f"{element.tag}@{name}" for name in element.attrib)
    return found


def read_suite(junit: Path) -> TestSuite:
    """The one suite, as junitparser reads the file (it wraps a <testsuite> root in a list)."""
    suites = list(JUnitXml.fromfile(str(junit)))
    assert len(suites) == 1 and isinstance(suites[0], TestSuite)
    return suites[0]


def assert_counts_match_results(junit: Path, results_json: Path) -> None:
    """junitparser's reading agrees with results.json, suite counts and each job's status."""
    results: dict[str, Any] = json.loads(results_json.read_text("utf-8"))
    totals = results["totals"]
    suite = read_suite(junit)
    assert suite.tests == totals["jobs"]
    assert suite.failures + suite.errors == totals["failed"]
    assert suite.skipped == totals["pending"]
    cases = list(suite)
    assert len(cases) == len(results["jobs"])
    for case, job in zip(cases, results["jobs"], strict=True):
        kinds = {type(result) for result in case.result}
        expected = {"failed": {Failure, Error}, "pending": {Skipped}}.get(job["status"], set())
        assert kinds <= expected and bool(kinds) == bool(expected), (case.name, job["status"])
        assert case.name == (job["label"] or job["key"])
