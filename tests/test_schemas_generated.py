"""The files that repeat what a registry owns are generated from it (scripts/generate_schemas.py):
the recipe schema's axis sources and API values, and the names no output may take. A new axis
source is its loader and one SOURCES entry; a new report format, its module and one WRITERS
entry."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import get_args, get_type_hints

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from runner.diagnostics import RecipeError
from runner.plan import axes
from runner.plan.outputs import OutputProblem, output_paths
from runner.plan.planner import plan_recipe
from runner.recipe import schema_check as validate
from runner.recipe.build import load_recipe
from runner.report.formats import WRITERS
from scripts import generate_schemas as generate
from tests.plan_support import png_bytes

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_files_are_what_the_registries_say() -> None:
    for path, text in generate.generated().items():
        assert path.read_text("utf-8") == text, (
            f"{path.relative_to(ROOT)} is out of date: run `{generate.COMMAND}` (make schemas)"
        )


def test_check_names_a_stale_file_and_fails(tmp_path, monkeypatch, capsys) -> None:
    copy = tmp_path / "recipe.schema.json"
    copy.write_text(generate.RECIPE_SCHEMA.read_text("utf-8").replace('"webp"]', '"gif"]', 1))
    monkeypatch.setattr(generate, "RECIPE_SCHEMA", copy)
    monkeypatch.setattr(generate, "REPORT_FILES", tmp_path / "report_files.py")
    assert generate.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert "recipe.schema.json is out of date: run make schemas" in err
    assert "report_files.py is out of date" in err  # missing counts as stale
    assert generate.main([]) == 0 and generate.main(["--check"]) == 0
    assert '"gif"' not in copy.read_text("utf-8")


def _load_json(recipe, axis, roots):
    data, problem = axes.read_axis_file(recipe, axis, axis.source.path, roots)
    if data is None:
        return axes.SourceResult(problems=[problem] if problem else [])
    return axes.SourceResult(json.loads(data), file=axis.source.path)


@pytest.fixture
def schema_caches_cleared():
    """The validator and source keys are cached from the schema: from the test's, then the real."""
    caches = (validate._validator, validate.axis_source_keys)
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


@pytest.mark.usefixtures("schema_caches_cleared")
def test_a_new_axis_source_is_one_loader_and_one_entry(tmp_path, monkeypatch) -> None:
    """The schema (validation, snippet, option), recipe builder and planner follow SOURCES."""
    entry = axes.AxisSourceKind(
        _load_json,
        "a value in this file contains your API key",
        {"title": "JSON file", "description": "A JSON file holding a list.", "type": "string"},
        "json (a JSON file holding a list)",
        ("The list in a JSON file", {"json": "${1:data/values.json}"}),
        {"pick": {"title": "Pick", "description": "Unused here.", "type": "string"}},
    )
    monkeypatch.setitem(axes.SOURCES, "json", entry)  # type: ignore[index]
    schema = generate.recipe_schema(json.loads(generate.RECIPE_SCHEMA.read_text("utf-8")))
    axis = schema["$defs"]["axis"]
    assert "json (a JSON file holding a list)" in axis["description"]
    assert axis["defaultSnippets"][-1]["label"] == "json"
    Draft202012Validator.check_schema(schema)
    monkeypatch.setattr(validate, "schema_text", lambda: json.dumps(schema))

    (tmp_path / "seasons.json").write_text('["spring", "autumn"]')
    (tmp_path / "mug.png").write_bytes(png_bytes())
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(
        "version: 1\nname: new-source\nimage: mug.png\nprompt: a mug in {{ season }}\n"
        "output: 'mug-{{ season }}'\nmatrix:\n  season: {json: seasons.json, pick: all}\n"
    )
    recipe = load_recipe(recipe_file)
    [season] = recipe.axes
    assert (season.source.kind, season.source.options) == ("json", {"pick": "all"})
    plan = plan_recipe(recipe)
    assert [job.vars["season"] for job in plan.jobs] == ["spring", "autumn"]

    monkeypatch.delitem(axes.SOURCES, "json")  # type: ignore[attr-defined]
    with pytest.raises(RecipeError, match="unknown axis source 'json'"):
        plan_recipe(dataclasses.replace(recipe))


def test_every_report_file_is_reserved_for_outputs() -> None:
    for writer in WRITERS:
        with pytest.raises(OutputProblem, match="reserved"):
            output_paths(writer.filename.rsplit(".", 1)[0], writer.filename.rsplit(".", 1)[1], 1)


def test_the_readme_lists_every_source_and_report_file() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    for name in axes.SOURCES:
        assert name == "inline" or f"{{{name}: " in readme, name
    reports = readme[readme.index("## Reports") :]
    listed = re.findall(r"^\| `([^`]+)` \|", reports[: reports.index("\n\n", 200)], re.M)
    assert listed == [writer.filename for writer in WRITERS]


def _enum(schema: str, pointer: str) -> list[str]:
    node = json.loads((ROOT / "runner" / "schemas" / schema).read_text("utf-8"))
    for part in pointer.split("/"):
        node = node[part]
    return list(node["enum"])


def _literal(owner: type, field: str) -> list[str]:
    return list(get_args(get_type_hints(owner)[field]))


def test_the_other_schemas_enums_are_the_codes_own_lists() -> None:
    """Hand-written schemas, each enum bound here to the type or tuple the code writes it from."""
    from runner.diagnostics import Diagnostic
    from runner.plan.diff import DiffStatus, PlanDiff
    from runner.plan.fingerprints import FIELDS
    from runner.plan.plan_model import ImageSource
    from runner.review.decision_model import Status
    from runner.status.standing import Delivery

    assert set(_enum("plan-diff.schema.json", "properties/compared_with")) == set(
        _literal(PlanDiff, "source")
    )
    job = "properties/jobs/items/properties"
    assert _enum("plan-diff.schema.json", f"{job}/status") == list(get_args(DiffStatus))
    assert _enum("plan-diff.schema.json", f"{job}/changed_fields/items") == list(FIELDS)
    image = "$defs/job/properties/image/properties/kind"
    assert _enum("results.schema.json", image) == _literal(ImageSource, "kind")
    assert _enum("review.schema.json", "$defs/status") == list(get_args(Status))
    deliveries = "properties/deliveries/items/properties/manifest"
    assert _enum("status.schema.json", deliveries) == _literal(Delivery, "manifest")
    severity = "properties/problems/items/properties/severity"
    assert _enum("status.schema.json", severity) == _literal(Diagnostic, "severity")


def test_init_writes_the_shipped_schema_and_the_apis_values(tmp_path) -> None:
    from runner.api import limits
    from runner.scaffold import init_project

    init_project(tmp_path)
    assert (tmp_path / "recipe.schema.json").read_bytes() == generate.RECIPE_SCHEMA.read_bytes()
    comments = {
        line.split(":")[0].strip(): line.split("#")[1].strip()
        for line in (tmp_path / "recipe.yaml").read_text("utf-8").splitlines()
        if line.startswith("  ") and "#" in line
    }
    assert comments["size"] == " | ".join(limits.SIZES)
    assert comments["quality"] == " | ".join(limits.QUALITIES)
    assert comments["output_format"] == " | ".join(limits.OUTPUT_FORMATS)
    assert comments["n"] == "images per job, {}..{}".format(*limits.N_RANGE)
    assert comments["output_compression"] == "{}..{}".format(*limits.COMPRESSION_RANGE)
