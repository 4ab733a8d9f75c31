"""Reports over a real run against the loopback emulator: state in, every format out."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.plan.plan_model import ImageSource
from runner.records.lock_reader import verify_outputs
from runner.records.state import StateStore
from runner.report.writer import write_reports
from tests.junit_support import assert_counts_match_results, assert_valid
from tests.runhelp import API_KEY, make_plan, run

pytestmark = pytest.mark.slow

SCHEMA = Path(__file__).resolve().parent.parent / "runner" / "schemas" / "results.schema.json"
PROMPTS = {
    "spring": "{p} sur une terrasse de café, lumière douce ☕",
    "summer": "{p} 夏の京都の庭で、柔らかい光 🌸",
    "winter": '=HYPERLINK("http://evil.example","{p}") <script>alert(1)</script>',
}


@pytest.fixture(scope="module")
def server():
    with EmulatorServer(EmulatorConfig(seed=5, cache_results=True)) as running:
        yield running


def test_every_report_from_a_real_run(tmp_path: Path, server) -> None:
    extra = {"GONE": ImageSource("asset", "images/no-such-asset.png")}
    plan = make_plan(
        tmp_path,
        products=("MUG",),
        n=2,
        prompt=lambda product, season: PROMPTS[season].format(p=product),
        extra_images=extra,
    )
    run(plan, server)
    out = plan.output_dir
    paths = write_reports(StateStore.read_snapshot(out), out)

    results = json.loads(paths["results.json"].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(results)
    assert results["totals"]["done"] == 3 and results["totals"]["failed"] == 3
    assert results["totals"]["images"] == 6  # n = 2
    prompts = [job["prompt_object"]["prompt"] for job in results["jobs"]]
    assert "MUG 夏の京都の庭で、柔らかい光 🌸" in prompts

    rows = list(csv.DictReader(io.StringIO(paths["results.csv"].read_bytes().decode("utf-8-sig"))))
    assert len(rows) == 6 + 3
    assert any(row["prompt"].startswith("'=HYPERLINK(") for row in rows)
    assert not any(row["prompt"].startswith("=") for row in rows)
    failed = [row for row in rows if row["status"] == "failed"]
    assert failed and all("is not a known asset" in row["error"] for row in failed)

    suite = ET.parse(paths["junit.xml"]).getroot()
    assert suite.get("tests") == "6" and suite.get("failures") == "3"
    assert_valid(paths["junit.xml"])
    assert_counts_match_results(paths["junit.xml"], paths["results.json"])
    messages = [f.get("message") or "" for f in suite.iter("failure")]
    assert all("imageUrl 'images/no-such-asset.png' is not a known asset" in m for m in messages)

    page = paths.html.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page
    assert page.count('class="job failed"') == 3
    assert "lumière douce ☕" in page

    assert verify_outputs(out).ok
    all_text = "".join(p.read_text("utf-8", "replace") for p in out.rglob("*") if p.is_file())
    assert API_KEY not in all_text


def test_an_unchanged_rerun_leaves_the_lock_byte_for_byte(tmp_path: Path, server) -> None:
    plan = make_plan(tmp_path, products=("MUG", "CAP"), seasons=("spring", "summer"))
    run(plan, server)
    written = write_reports(StateStore.read_snapshot(plan.output_dir), plan.output_dir)
    first = written["backdrop.lock"]
    before = first.read_bytes()
    run(plan, server)  # everything is left alone now
    snapshot = StateStore.read_snapshot(plan.output_dir)
    assert {job.status for job in snapshot.jobs} == {"done"}
    write_reports(snapshot, plan.output_dir)
    assert first.read_bytes() == before
