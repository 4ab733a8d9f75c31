"""Write what the registries own into the files that repeat it, so that nothing repeats it by hand.

- runner/schemas/recipe.schema.json: the axis sources (plan.axes.SOURCES: keys, descriptions,
  editor snippets) and the API's values and ranges (api.limits); the rest is written by hand.
- runner/report_files.py: the names report.formats.WRITERS writes, which no output may take.
- schemas/*.schema.json: a copy of each of runner/schemas/, where editors and CI find them.

`make schemas` (python scripts/generate_schemas.py) rewrites them; `--check` only says which are
out of date. tests/test_schemas_generated.py fails while one is. A tool for this repository,
not part of the package: an installed copy has nothing to regenerate.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "runner"
RECIPE_SCHEMA = RUNNER / "schemas" / "recipe.schema.json"
# The package reads runner/schemas/ (a link would be a text file in a Windows checkout); the
# repository's schemas/ keeps a copy of each at the path editors, SchemaStore and CI use.
PUBLISHED = ROOT / "schemas"
REPORT_FILES = RUNNER / "report_files.py"
COMMAND = "make schemas"


def recipe_schema(current: dict[str, Any]) -> dict[str, Any]:
    """`current` (the committed schema) with its registry-fed parts written anew."""
    schema = copy.deepcopy(current)
    _write_api_values(schema)
    _write_axis(schema["$defs"]["axis"])
    return schema


def _write_api_values(schema: dict[str, Any]) -> None:
    """The prompt fields' values and ranges, and the price table's qualities (api.limits)."""
    from runner.api import limits

    fields = schema["properties"]["defaults"]["properties"]
    for name, values, what in (
        ("size", limits.SIZES, "Width x height of the generated image: {}."),
        ("quality", limits.QUALITIES, "{}. Higher quality costs more per image."),
        ("output_format", limits.OUTPUT_FORMATS, "{}. It also sets the output files' extension."),
    ):
        fields[name]["description"] = what.format(_words(values))
        fields[name]["anyOf"][0] = {"enum": list(values)}
    for name, (low, high), what in (
        ("n", limits.N_RANGE, "How many images to generate for each job, from {} to {}. With more"
         " than 1, the files are suffixed -1, -2, ..."),
        ("output_compression", limits.COMPRESSION_RANGE, "Compression level from {} to {}, used for"
         " jpeg and webp."),
    ):  # fmt: skip
        fields[name]["description"] = what.format(low, high)
        fields[name]["anyOf"][0].update(minimum=low, maximum=high)
    prompt = schema["properties"]["prompt"]
    prompt["description"] = "Template for the text describing the new background ({} to {}"\
        " characters once rendered).".format(*limits.PROMPT_LENGTH)  # fmt: skip
    schema["$defs"]["priceByQuality"]["properties"] = {
        quality: {
            "title": f"{quality.capitalize()} quality",
            "description": f"USD per image at {quality} quality.",
            "type": "number",
            "minimum": 0,
        }
        for quality in limits.QUALITIES
    }


def _write_axis(axis: dict[str, Any]) -> None:
    """An axis: a list written in the recipe (inline), or exactly one source's key (a mapping
    with one key, recipe.validate.axis_source_keys), or a source's key with its options."""
    from runner.plan.axes import SOURCES

    inline = SOURCES["inline"]
    files = {name: kind for name, kind in SOURCES.items() if name != "inline"}
    axis["description"] = (
        f"The values of this axis: {inline.summary}, or a mapping with one of "
        f"{_words([kind.summary for kind in files.values()])}. Paths are relative to the recipe."
    )
    axis["defaultSnippets"] = [
        {"label": "list" if name == "inline" else name, "description": what, "body": body}
        for name, (what, body) in ((name, kind.snippet) for name, kind in SOURCES.items())
    ]
    one = {"type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1}
    one["properties"] = {name: dict(kind.schema) for name, kind in files.items()}
    axis["oneOf"] = [dict(inline.schema), one]
    axis["oneOf"] += [
        {
            "type": "object",
            "additionalProperties": False,
            "required": [name, *kind.options],
            "properties": {name: dict(kind.schema), **kind.options},
        }
        for name, kind in files.items()
        if kind.options
    ]


def report_files_module() -> str:
    from runner.report.formats import WRITERS

    names = ", ".join(json.dumps(writer.filename) for writer in WRITERS)
    return (
        f'"""The files `run` and `report` write at the top of an output folder, which no output\n'
        f"may be named. Generated from report.formats.WRITERS by `{COMMAND}`.\n"
        f'"""\n\nREPORT_FILES = ({names})\n'
    )


def dump(value: Any, indent: int = 0, lead: int = 0, width: int = 100) -> str:
    """JSON with two-space indents, and a list or mapping on one line wherever it fits."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, dict | list) or indent + lead + len(flat) <= width:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        named = [(json.dumps(key, ensure_ascii=False), item) for key, item in value.items()]
        lines = [f"{pad}{key}: {dump(item, indent + 2, len(key) + 2)}" for key, item in named]
        return "{\n" + ",\n".join(lines) + "\n" + " " * indent + "}"
    lines = [pad + dump(item, indent + 2) for item in value]
    return "[\n" + ",\n".join(lines) + "\n" + " " * indent + "]"


def generated() -> dict[Path, str]:
    """Each generated file's path and the text it must have."""
    current = json.loads(RECIPE_SCHEMA.read_text("utf-8"))
    files = {
        RECIPE_SCHEMA: dump(recipe_schema(current)) + "\n",
        REPORT_FILES: report_files_module(),
    }
    for schema in sorted((RUNNER / "schemas").glob("*.schema.json")):
        files[PUBLISHED / schema.name] = files.get(schema) or schema.read_text("utf-8")
    return files


def stale() -> list[Path]:
    """The generated files whose committed text differs from what the registries say."""
    return [path for path, text in generated().items() if _read(path) != text]


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        return None


def _words(items: Any) -> str:
    words = [str(item) for item in items]
    return words[0] if len(words) < 2 else f"{', '.join(words[:-1])} or {words[-1]}"


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        out_of_date = stale()
        for path in out_of_date:
            print(f"{path} is out of date: run {COMMAND}", file=sys.stderr)
        return 1 if out_of_date else 0
    for path, text in generated().items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, "utf-8", newline="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
