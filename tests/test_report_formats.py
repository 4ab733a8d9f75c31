"""The report registry, and what every format shows: portable paths, own job times, readable
details, a chosen CSV separator."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

from runner.report.context import ReportOptions
from runner.report.formats import WRITERS
from runner.report.writer import write_reports
from runner.report_files import REPORT_FILES
from tests.report_snapshots import JobSpec, build_snapshot, campaign_specs, make_sources

PORTABLE = ("report.html", "results.json", "results.csv", "junit.xml")


def _checkout(root: Path):
    """A project as cloned into `root`: the state records the recipe's absolute path."""
    out = root / "out"
    snapshot = build_snapshot(out, make_sources(root / "src"), campaign_specs())
    recipe = root / "recipes" / "spring-campaign.yaml"
    return out, dataclasses.replace(snapshot, recipe_path=str(recipe))


def test_reports_read_the_same_from_every_checkout(tmp_path: Path) -> None:
    first, snapshot_a = _checkout(tmp_path / "alice" / "project")
    second, snapshot_b = _checkout(tmp_path / "bob-elsewhere")
    paths_a = write_reports(snapshot_a, first)
    paths_b = write_reports(snapshot_b, second)
    for name in PORTABLE:
        data = paths_a[name].read_bytes()
        assert data == paths_b[name].read_bytes(), name
        assert str(tmp_path).encode() not in data, name
    results = json.loads(paths_a["results.json"].read_text(encoding="utf-8"))
    assert results["recipe"]["path"] == "../recipes/spring-campaign.yaml"
    suite = ET.parse(paths_a["junit.xml"]).getroot()
    shown = {p.get("name"): p.get("value") for p in suite.find("properties") or []}
    assert shown["backdrop.recipe_path"] == "../recipes/spring-campaign.yaml"
    assert "<code>../recipes/spring-campaign.yaml</code>" in paths_a.html.read_text("utf-8")


def test_no_report_tells_what_changes_without_the_folder_changing(tmp_path: Path) -> None:
    """A run's id, times and tool version, each job's attempts and durations change from one run
    to the next while the folder stays as it was: no report may show them (teams commit them)."""
    out = tmp_path / "out"
    snapshot = build_snapshot(out, make_sources(tmp_path / "src"), campaign_specs())
    first = {path.name: path.read_bytes() for path in write_reports(snapshot, out)}
    later = dataclasses.replace(
        snapshot,
        run_id="20990101T000000Z-ffffff",
        started_at="2099-01-01T00:00:00.000Z",
        finished_at=None,
        tool_version="9.9.9",
        estimated_cost_usd=0.0,  # what the latest run generated: nothing
        jobs=tuple(dataclasses.replace(job, attempts=9, duration_s=0.5) for job in snapshot.jobs),
    )
    again = {path.name: path.read_bytes() for path in write_reports(later, out)}
    assert again == first


class _Details(HTMLParser):
    """The (name, value) pairs of every job's <details> list."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.jobs: list[list[tuple[str, str]]] = []
        self._tag = ""
        self._name = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag = tag
        if tag == "dl":
            self.jobs.append([])

    def handle_data(self, data: str) -> None:
        if self._tag == "dt":
            self._name = data
        elif self._tag == "dd":
            self.jobs[-1].append((self._name, data))
        self._tag = ""


def test_details_are_readable_pairs_each_value_once(tmp_path: Path) -> None:
    specs = [
        JobSpec({"product": {"Code": "007", "name": "Mug"}, "quality": "medium"}, "a mug"),
        JobSpec({"product": {"Code": "008", "name": "Tote"}, "tags": ["eco", "new"]}, "a tote"),
    ]
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), specs, axes=("product",))
    source = write_reports(snapshot, tmp_path).html.read_text(encoding="utf-8")
    parser = _Details()
    parser.feed(source)
    first, second = (dict(pairs) for pairs in parser.jobs)
    names = [name for name, _ in parser.jobs[0]]
    assert first["product.Code"] == "007" and first["product.name"] == "Mug"
    assert names.count("quality") == 1 and names.count("n") == 1  # an include set quality
    assert second["tags"] == "eco, new"
    assert not re.search(r"<dd>[{\[]", source)  # no raw JSON anywhere in the details


def test_csv_separator_semicolon(tmp_path: Path) -> None:
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), campaign_specs())
    paths = write_reports(snapshot, tmp_path, options=ReportOptions(csv_separator=";"))
    text = paths["results.csv"].read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("job_key;label;status;product.sku;")
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    assert len(rows) == 13 and rows[0]["market.setting"] == "un café parisien"
    formula = next(row for row in rows if row["job_key"] == snapshot.jobs[5].key)
    assert formula["prompt"].startswith("'=HYPERLINK(")  # still neutralised


def test_one_registry_names_every_report_file() -> None:
    names = [writer.filename for writer in WRITERS]
    assert names[0] == "report.html" and len(set(names)) == len(names)
    # The plan refuses outputs named like a report, and prune never looks at them (generated).
    assert names == list(REPORT_FILES)


def test_a_merged_report_leaves_out_per_folder_formats(tmp_path: Path) -> None:
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), campaign_specs())
    written = [p.name for p in write_reports(snapshot, tmp_path, merged=True)]
    assert written == [w.filename for w in WRITERS if w.in_merged_report]
    assert "backdrop.lock" not in written and "report.html" in written


def test_the_template_marks_safe_only_the_page_own_assets() -> None:
    template = (
        resources.files("runner.report")
        .joinpath("templates", "report.html.j2")
        .read_text(encoding="utf-8")
    )
    assert re.findall(r"\{\{\s*(\w+)\s*\|\s*safe\s*\}\}", template) == ["style", "script"]
    assert len(re.findall(r"\|\s*safe", template)) == 2
