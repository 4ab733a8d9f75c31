"""results.json: content, and validity against the published schema."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runner.report.writer import write_reports
from tests.report_snapshots import build_snapshot, campaign_specs, make_sources

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "runner" / "schemas" / "results.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def test_schema_is_a_valid_2020_12_schema(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith("/results.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)


def test_written_results_validate_and_describe_the_folder(
    tmp_path: Path, schema: dict[str, Any]
) -> None:
    out = tmp_path / "out"
    snapshot = build_snapshot(out, make_sources(tmp_path / "src"), campaign_specs())
    data = json.loads(write_reports(snapshot, out)["results.json"].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["format_version"] == 2 and data["tool"] == {"name": "backdrop"}
    assert data["recipe"] == {"name": "spring-campaign", "path": "recipes/spring-campaign.yaml"}
    assert "run" not in data  # the latest run's id and times are the run's news, not the folder's
    assert data["updated_at"] == "2024-05-01T14:03:00Z"  # the latest generation's run
    # Twelve images generated at $0.063 (medium, non-square), the job done earlier's included.
    assert data["estimated_cost_usd"] == pytest.approx(12 * 0.063)
    assert data["maybe_charged_usd"] == 0
    assert data["totals"] == {"jobs": 12, "done": 11, "failed": 1, "pending": 0, "images": 12}
    first, failed, earlier = data["jobs"][0], data["jobs"][1], data["jobs"][2]
    assert first["vars"]["market"]["setting"] == "un café parisien"
    assert first["prompt_object"]["n"] == 2 and len(first["files"]) == 2
    assert set(first["files"][0]) == {"path", "sha256", "width", "height", "bytes"}
    assert first["generated_at"] == "2024-05-01T14:03:00Z" and first["record_uuid"] == "uuid-0"
    assert earlier["status"] == "done" and earlier["generated_at"] == "2024-04-20T09:15:00Z"
    assert failed["status"] == "failed" and failed["files"] == []
    assert failed["generated_at"] is None and "attempts" not in failed
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
    assert [job["status"] for job in data["jobs"][5:7]] == ["pending", "pending"]
    assert data["totals"]["pending"] == 2
