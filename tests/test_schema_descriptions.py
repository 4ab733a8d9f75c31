"""Every property of every JSON Schema we publish has a description (editors and SchemaStore
show it on hover and in completions), as shipped in the package (runner/schemas/)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROPERTY_MAPS = ("properties", "patternProperties")  # keywords whose values name properties


def _schema_files() -> list[Path]:
    return sorted(Path(str(resources.files("runner").joinpath("schemas"))).glob("*.json"))


def undescribed(node: Any, pointer: str = "#") -> Iterator[str]:
    """JSON pointers of the properties, anywhere in the schema, that have no description."""
    if isinstance(node, dict):
        for keyword in PROPERTY_MAPS:
            properties = node.get(keyword)
            if not isinstance(properties, dict):
                continue
            for name, schema in properties.items():
                text = schema.get("description") if isinstance(schema, dict) else None
                if not (isinstance(text, str) and text.strip()):
                    yield f"{pointer}/{keyword}/{name}"
        for key, value in node.items():
            yield from undescribed(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from undescribed(value, f"{pointer}/{index}")


SCHEMAS = _schema_files()


def test_every_published_schema_is_checked():
    names = {path.name for path in SCHEMAS}
    assert {
        "recipe.schema.json",
        "results.schema.json",
        "plan-diff.schema.json",
        "review.schema.json",
        "status.schema.json",
    } <= names


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_property_has_a_description(path: Path):
    schema = json.loads(path.read_text("utf-8"))
    assert list(undescribed(schema)) == []


def test_the_walk_finds_properties_anywhere():
    schema = {
        "properties": {"a": {"description": "ok", "properties": {"b": {"type": "string"}}}},
        "$defs": {"d": {"items": {"patternProperties": {"^x": {"description": "  "}}}}},
        "anyOf": [{"properties": {"c": True}}],
    }
    assert sorted(undescribed(schema)) == [
        "#/$defs/d/items/patternProperties/^x",
        "#/anyOf/0/properties/c",
        "#/properties/a/properties/b",
    ]
