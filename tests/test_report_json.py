"""results.json: content, and validity against the published schema."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runner.report import write_reports
from tests.report_snapshots import build_snapshot, campaign_specs, make_sources

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "results.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def test_schema_is_a_valid_2020_12_schema(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/results.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)


def test_the_schema_is_shipped_in_the_package() -> None:
    from importlib import resources

    shipped = resources.files("runner").joinpath("schemas", "results.schema.json")
    assert json.loads(shipped.read_text(encoding="utf-8")) == json.loads(SCHEMA_PATH.read_text())


def test_written_results_validate_and_hold_the_run(tmp_path: Path, schema: dict[str, Any]) -> None:
    out = tmp_path / "out"
    snapshot = build_snapshot(out, make_sources(tmp_path / "src"), campaign_specs())
    data = json.loads(write_reports(snapshot, out)["results.json"].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["recipe"] == {"name": "spring-campaign", "path": "recipes/spring-campaign.yaml"}
    assert data["run"]["id"] == "run-0001" and data["run"]["duration_s"] == 271.0
    assert data["totals"] == {
        "jobs": 12,
        "done": 10,
        "skipped": 1,
        "failed": 1,
        "pending": 0,
        "images": 12,
    }
    first, failed = data["jobs"][0], data["jobs"][1]
    assert first["vars"]["market"]["setting"] == "un café parisien"
    assert first["prompt_object"]["n"] == 2 and len(first["files"]) == 2
    assert set(first["files"][0]) == {"path", "sha256", "width", "height", "bytes"}
    assert failed["status"] == "failed" and failed["files"] == [] and failed["attempts"] == 3
    assert failed["error"].endswith('<b>"policy"</b> & more')
    assert "imageUrl" not in first["prompt_object"]
    assert "日本語のプロンプト" in data["jobs"][3]["prompt_object"]["prompt"]


def test_an_unfinished_run_validates_too(tmp_path: Path, schema: dict[str, Any]) -> None:
    specs = campaign_specs()
    specs[5].status = "pending"
    specs[6].status = "generated"
    snapshot = build_snapshot(tmp_path, make_sources(tmp_path / "src"), specs)
    snapshot = dataclasses.replace(snapshot, finished_at=None)
    data = json.loads(write_reports(snapshot, tmp_path)["results.json"].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["run"]["finished_at"] is None and data["run"]["duration_s"] is None
    assert [job["status"] for job in data["jobs"][5:7]] == ["pending", "pending"]
    assert data["totals"]["pending"] == 2
