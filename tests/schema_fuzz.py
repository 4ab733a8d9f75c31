"""Recipes generated from the recipe schema, with adversarial values and sizes, and a runner that
checks each ends in exit 0 or 2 within bounds (generated, never committed).

Different in kind from tests/fuzz_support.py, which mutates three seed recipes: here the shape
comes from runner/schemas/recipe.schema.json (every property, `anyOf`/`oneOf` branch, enum and
bound it declares), so a recipe is valid in form, and the values come from strategies chosen by
what the schema says a value is (a template, a file, an axis, include/exclude entries, vars). Their
sizes follow scale knobs: jobs, template loop counts, include/exclude counts, vars, nesting and
text length. Each case runs the real CLI (`validate`, `plan`, `plan --json`, `plan --diff`) in
a forked child under an address-space and a CPU-time limit, which gives its wall time, CPU time
and peak memory (wait4) and keeps a runaway case from taking the caller with it.

Shared by tests/test_fuzz_front_end.py (a few hundred small cases) and bench/bench_fuzz.py.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tests.plan_support import png_bytes

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "runner" / "schemas" / "recipe.schema.json"
COMMANDS = (
    ("validate",),
    ("plan",),
    ("plan", "--json"),
    ("plan", "--diff", "--format", "markdown"),
)


@dataclass(frozen=True)
class Knobs:
    """How large the generated parts may be (each drawn up to its knob)."""

    jobs: int = 40  # combinations of the matrix (product of the axis sizes)
    loop: int = 50  # iterations of a template loop
    entries: int = 5  # include and exclude entries
    vars: int = 10  # entries of `vars`
    depth: int = 4  # nesting: lists in lists, folders, macro calls, shared levels
    text: int = 200  # characters of long values
    rows: int = 20  # rows of a CSV or YAML axis file


SMALL = Knobs()
LARGE = Knobs(
    jobs=20_000, loop=30_000, entries=3_000, vars=40_000, depth=1_200, text=200_000, rows=60_000
)


@dataclass
class Case:
    seed: int
    recipe: str
    files: dict[str, bytes] = field(default_factory=dict)
    deep: int = 0  # folders to nest below deep/ (a glob's tree)
    command: tuple[str, ...] = ("plan",)
    families: tuple[str, ...] = ()  # which adversarial strategies it used


def load_schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text("utf-8")))


class SchemaRecipes:
    """Draws recipes from the schema; `knobs` bound the sizes, `rng` decides everything."""

    def __init__(self, schema: dict[str, Any], rng: random.Random, knobs: Knobs) -> None:
        self.schema = schema
        self.rng = rng
        self.knobs = knobs
        self.files: dict[str, bytes] = {"images/a.png": png_bytes()}
        self.deep = 0
        self.families: list[str] = []
        self.axes: dict[str, list[Any]] = {}  # axis name -> values (inline, or the file's rows)
        self.fields: dict[str, list[str]] = {}  # axis name -> fields of its mapping values
        self.names: list[str] = []  # variables templates may read
        # Most cases have one odd part and everything else ordinary, so that they get far
        # (to planning thousands of jobs); the rest mix odd parts anywhere.
        self.focus = rng.choice(ODD_PARTS) if rng.random() < 0.6 else None

    def odd(self, part: str, chance: float = 0.3) -> bool:
        """Whether this part of the recipe is made odd (adversarial) in this case."""
        if self.focus is None:
            return self.rng.random() < chance
        return part == self.focus

    # --- sizes ---------------------------------------------------------------------------

    def up_to(self, limit: int, low: int = 0) -> int:
        """A size up to `limit`: mostly small, sometimes the limit itself (where bugs live)."""
        roll = self.rng.random()
        if roll < 0.15:
            return max(low, limit)
        if roll < 0.5:
            return self.rng.randint(low, max(low, min(limit, 3)))
        return self.rng.randint(low, max(low, limit))

    def family(self, name: str) -> None:
        self.families.append(name)

    # --- the schema walk -----------------------------------------------------------------

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.schema
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def instance(self, schema: dict[str, Any], path: tuple[str, ...]) -> Any:
        """A value of the shape `schema` declares at `path`, from the strategy for that path."""
        schema = self.resolve(schema)
        strategy = self.strategy(path, schema)
        if strategy is not None:
            return strategy()
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.instance(self.rng.choice(schema[key]), path)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = self.rng.choice(kind)
        if kind == "object" or "properties" in schema:
            return self.mapping(schema, path)
        if kind == "array":
            items = schema.get("items", {})
            count = self.up_to(4, schema.get("minItems", 0))
            return [self.instance(items, (*path, "[]")) for _ in range(count)]
        if kind == "string":
            return self.string(schema)
        if kind in ("integer", "number"):
            return self.number(schema, integer=kind == "integer")
        if kind == "boolean":
            return self.rng.random() < 0.5
        return self.scalar()

    def mapping(self, schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        out: dict[str, Any] = {}
        for name in properties:
            if name in required or self.rng.random() < _PRESENT.get((*path, name), 0.4):
                out[name] = self.instance(properties[name], (*path, name))
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            count = self.up_to(schema.get("maxProperties", 3), schema.get("minProperties", 0))
            for _ in range(count - len(out)):
                name = self.key(schema)
                out.setdefault(name, self.instance(extra, (*path, "*")))
        return out

    def key(self, schema: dict[str, Any]) -> str:
        pattern = schema.get("propertyNames", {}).get("pattern", "")
        if pattern:
            return self.rng.choice(["instagram", "story", "web-1", "A_b"])
        return self.rng.choice(["product", "season", "market", "shot", "tone", "x"]) + str(
            self.rng.randint(0, 9)
        )

    def string(self, schema: dict[str, Any]) -> str:
        if schema.get("pattern") == "^#[0-9A-Fa-f]{6}$":
            return self.rng.choice(["#ffffff", "#00aa11"])
        if schema.get("pattern", "").startswith("^[1-9][0-9]{0,3}x"):
            return self.rng.choice(["1080x1350", "1x1", "8192x8192"])
        if self.odd("strings"):
            return self.long_text()
        return self.rng.choice(["a", "Acme", "crème brûlée", "急須"])

    def number(self, schema: dict[str, Any], *, integer: bool) -> float | int:
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        high = schema.get("maximum", low + 1_000_000)
        value = self.rng.randint(int(low), int(min(high, low + 10)))
        if self.odd("numbers"):
            value = self.rng.choice([low, high])
        if "exclusiveMinimum" in schema and value <= low:
            value = low + 1
        return int(value) if integer else float(value) + self.rng.choice([0, 0.5])

    def scalar(self) -> Any:
        return self.rng.choice(["x", 1, 2.5, True, None, "ü", self.long_text()])

    def long_text(self) -> str:
        return self.rng.choice(["é", "a b ", "☃", "x"]) * self.up_to(self.knobs.text, 1)

    # --- strategies by what the schema says a value is -----------------------------------

    def strategy(self, path: tuple[str, ...], schema: dict[str, Any]) -> Callable[[], Any] | None:
        if path == ():
            return None
        head = path[0]
        if path == ("name",):
            return lambda: "A." + "b" * 98 if self.odd("name") else "campaign-2026"
        if path == ("matrix",):
            return lambda: self.matrix(schema)
        if path == ("vars",):
            return self.vars
        if path in (("image",), ("prompt",), ("output",)) or (
            head == "defaults" and len(path) == 2
        ):
            return lambda: self.template(path[-1], schema)
        if path == ("max_jobs",):
            return lambda: self.rng.choice([1, 5, 200_000] if self.odd("max_jobs") else [100_000])
        if path == ("output_dir",):
            return lambda: (
                self.rng.choice(["o" * 300, "../elsewhere", "\u202e"])
                if self.odd("output_dir")
                else "out/x"
            )
        if path in (("report", "rows"), ("report", "columns")):
            return lambda: "nope" if self.odd("report") or not self.axes else next(iter(self.axes))
        return None

    def matrix(self, schema: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        axis_schema = schema["additionalProperties"]
        count = self.rng.choice([0, 1, 2, 2, 3])
        budget = max(1, self.up_to(self.knobs.jobs, 1))
        for number in range(count):
            name = ["product", "season", "market"][number]
            size = max(1, round(budget ** (1 / count)))
            out[name] = self.axis(name, self.resolve(axis_schema), size)
        self.names.extend(out)
        for name in ("exclude", "include"):
            if self.rng.random() < 0.6:
                out[name] = self.entries(name == "include")
        return out

    def axis(self, name: str, schema: dict[str, Any], size: int) -> Any:
        branch = self.resolve(self.rng.choice(schema["oneOf"]))
        if branch.get("type") == "array":
            values = [self.axis_value(index) for index in range(size)]
            self.axes[name] = values
            return values
        if branch.get("required"):  # {xlsx: path, sheet: NAME}
            path, sheets = self.workbook(name, size)
            sheet = self.rng.choice([*sheets, 2, "Nope"] if self.odd("xlsx") else sheets)
            return {"xlsx": path, "sheet": sheet}
        kind = self.rng.choice(sorted(branch["properties"]))
        return {kind: getattr(self, f"{kind}_axis")(name, size)}

    def axis_value(self, index: int) -> Any:
        roll = self.rng.random()
        if roll < 0.4:
            return f"v{index}"
        if roll < 0.6:
            return index
        if roll < 0.7:
            if self.odd("values", 0.1):
                return self.rng.choice([True, False, 1.5, "NO", "1", "é" * (index % 3)])
            return f"w{index}"
        return {"sku": f"S-{index}", "name": f"item {index}", "image": "images/a.png"}

    def csv_axis(self, name: str, size: int) -> str:
        rows = max(size, self.up_to(self.knobs.rows, 1))
        odd = self.odd("csv")
        encodings = ["utf-16", "cp1252", "gbk", "shift_jis"] if odd else ["utf-8", "utf-8-sig"]
        encoding = self.rng.choice(encodings)
        trailing = "," * (self.up_to(self.knobs.text) if odd else 0)
        setting = self.rng.choice(["a café", "南部鉄器の急須", "一个白色陶瓷杯子", "x" * 50])
        lines = [f"code,setting{trailing}"]
        lines += [f'c{index},"{setting} {index}"' for index in range(rows)]
        text = "\r\n".join(lines) + "\r\n"
        if trailing:
            self.family("csv-trailing")
        if encoding not in ("utf-8", "utf-8-sig"):
            self.family(f"csv-{encoding}")
        path = f"data/{name}.csv"
        self.files[path] = text.encode(encoding, "replace")
        self.axes[name] = [
            {"code": f"c{index}", "setting": f"{setting} {index}"} for index in range(rows)
        ]
        self.fields[name] = ["code", "setting"]
        return path

    def xlsx_axis(self, name: str, size: int) -> str:
        return self.workbook(name, size)[0]

    def workbook(self, name: str, size: int) -> tuple[str, list[str]]:
        """A real .xlsx file (openpyxl, write-only) whose first sheet is the axis; odd ones are
        wider or longer than a sheet may be, hold formulas without saved values, error cells,
        dates, long or non-Latin text, and more sheets."""
        import datetime
        import io

        from openpyxl import Workbook

        odd = self.odd("xlsx")
        rows = max(size, self.up_to(min(self.knobs.rows, 12_000), 1))
        width = self.up_to(1_100, 2) if odd else 2
        setting = self.rng.choice(["a café", "南部鉄器の急須", "x" * 50, self.long_text()[:5000]])
        sheets = [self.rng.choice(["Markets", "2024", "Données é", "Sheet1"])]
        path = f"data/{name}.xlsx"
        self.axes[name] = [
            {"code": f"c{index}", "setting": f"{setting} {index}"} for index in range(rows)
        ]
        self.fields[name] = ["code", "setting"]
        if not odd and _plain_text(setting):
            # The rows written into the header-only workbook: the bytes openpyxl would save.
            self.files[path] = _with_text_rows(_header_only_workbook(sheets[0]), setting, rows)
            if rows > 10_000:
                self.family("xlsx-rows")
            return path, sheets
        book = Workbook(write_only=True)
        sheet = book.create_sheet(sheets[0])
        sheet.append(["code", "setting", *([None] * (width - 2))])
        odd_cells: list[Any] = ["=1/0", "#N/A", datetime.date(2025, 3, 1), 0.1 + 0.2, True, 1e20]
        for index in range(rows):
            cells: list[Any] = [f"c{index}", f"{setting} {index}"]
            if odd and index % 7 == 0:
                cells.append(self.rng.choice(odd_cells))
            sheet.append(cells)
        if odd:
            self.family("xlsx-wide" if width > 1_000 else "xlsx-odd")
            for extra in range(self.up_to(self.knobs.depth, 0) % 20):
                sheets.append(f"S{extra}")
                book.create_sheet(sheets[-1]).append(["code", "=A1"])
        if rows > 10_000:
            self.family("xlsx-rows")
        buffer = io.BytesIO()
        book.save(buffer)
        self.files[path] = buffer.getvalue()
        return path, sheets

    def yaml_axis(self, name: str, size: int) -> str:
        rows = max(size, self.up_to(self.knobs.rows, 1))
        depth = self.up_to(min(self.knobs.depth, 150))
        nested = "[" * depth + "1" + "]" * depth
        path = f"data/{name}.yaml"
        self.files[path] = "".join(f"- v{index}\n" for index in range(rows)).encode()
        if depth > 2:
            self.files[path] += f"- {nested}\n".encode()
            self.family("yaml-nesting")
        self.axes[name] = [f"v{index}" for index in range(rows)]
        return path

    def glob_axis(self, name: str, size: int) -> str:
        for index in range(min(size, 50)):
            self.files[f"images/{name}-{index}.png"] = png_bytes()
        if self.odd("glob"):
            self.deep = self.up_to(self.knobs.depth, 1)
            self.family("glob-deep")
            self.axes[name] = [{"path": "x", "name": "x.png", "stem": "x"}]
            return "**/*.png"
        self.axes[name] = [
            {
                "path": f"images/{name}-{index}.png",
                "name": f"{name}-{index}.png",
                "stem": f"{name}-{index}",
            }
            for index in range(min(size, 50))
        ]
        return f"images/{name}-*.png"

    def entries(self, include: bool) -> list[dict[str, Any]]:
        count = self.up_to(self.knobs.entries, 1)
        if count > 50:
            self.family("include" if include else "exclude")
        out = []
        for _ in range(count):
            entry: dict[str, Any] = {}
            for name, values in self.axes.items():
                if self.rng.random() < 0.6 and values:
                    value = self.rng.choice(values)
                    if isinstance(value, dict) and self.rng.random() < 0.7:
                        field_name = self.rng.choice(sorted(value))
                        value = {field_name: value[field_name]}
                    elif self.odd("entries", 0.1):
                        value = f"{value}-miss"  # matches nothing: a did-you-mean
                    entry[name] = value
            if include:
                name, good, bad = self.rng.choice(_FIELDS)
                entry[name] = self.rng.choice(bad if self.odd("entries", 0.1) else good)
            if entry:
                out.append(entry)
        return out or [{"quality": "low"}] if include else out

    def vars(self) -> dict[str, Any]:
        count = self.up_to(self.knobs.vars)
        if count > 1000:
            self.family("vars")
        out: dict[str, Any] = {f"var{index:05d}": f"x{index}" for index in range(count)}
        out["brand"] = {"name": "Acme", "tags": ["a", "b"]} if self.odd("vars") else "Acme"
        self.names.extend(["brand", *list(out)[:3]])
        return out

    # --- templates -----------------------------------------------------------------------

    def template(self, field_name: str, schema: dict[str, Any]) -> Any:
        if field_name in ("size", "quality", "output_format", "n", "output_compression"):
            if not self.odd("defaults") and "anyOf" in schema:
                plain = self.resolve(schema["anyOf"][0])
                if "enum" in plain:
                    return self.rng.choice(plain["enum"])
                return self.number(plain, integer=True)
            return self.rng.choice(
                ["{{ 1 }}", f"{{{{ '9' * {self.up_to(self.knobs.text, 1)} }}}}", "{{ 'hgih' }}"]
            )
        if field_name == "image":
            return self.image()
        if field_name == "output":
            pieces = [self.reference(name) for name in self.axes] or ["out"]
            if self.odd("template"):
                pieces.append(self.fragment())
            return "/".join(pieces)
        pieces = [self.fragment() for _ in range(self.rng.randint(1, 3))]
        return " ".join(pieces)

    def reference(self, axis: str) -> str:
        """`{{ axis }}`, or a field of it when its values are mappings."""
        values = self.axes[axis]
        if values and isinstance(values[0], dict):
            return f"{{{{ {axis}.{sorted(values[0])[0]} | slug }}}}"
        return f"{{{{ {axis} | slug }}}}"

    def image(self) -> str:
        if not self.odd("image"):
            return "images/a.png"
        choices = [
            "https://example.com/a.png",
            "https://[::1/a.png",
            "asset:images/a",
            "images/missing.png",
            "Images/A.PNG",
            "{{ '' }}",
        ]
        for name, values in self.axes.items():
            if values and isinstance(values[0], dict) and "image" in values[0]:
                choices.append(f"{{{{ {name}.image }}}}")
        if self.deep or any(path.startswith("images/") for path in self.files):
            choices.append(
                "{{ " + self.rng.choice([*self.axes, "x"]) + ".path | default('images/a.png') }}"
            )
        return self.rng.choice(choices)

    def fragment(self) -> str:
        knobs, rng = self.knobs, self.rng
        name = rng.choice(self.names) if self.names else "recipe.name"
        loop = self.up_to(knobs.loop, 1)
        depth = self.up_to(knobs.depth, 1)
        text = self.up_to(knobs.text, 1)
        options: list[tuple[str, str]] = [
            ("plain", "a mug on a table"),
            ("name", f"{{{{ {name} }}}}"),
            ("filters", f"{{{{ {name} | string | upper | slug }}}}"),
            ("undefined", f"{{{{ {name}x }}}}"),
            ("loop", f"{{% for i in range({loop}) %}}{{% endfor %}}"),
            (
                "loop-nested",
                f"{{% for i in range({loop}) %}}{{% for j in range({loop}) %}}"
                "{% endfor %}{% endfor %}",
            ),
            (
                "macro",
                "{% macro m(k) %}{% if k > 0 %}{{ m(k - 1) }}{% endif %}{% endmacro %}"
                f"{{{{ m({depth}) }}}}",
            ),
            (
                "compare",
                "{% set ns = namespace(x=[1], y=[1]) %}"
                f"{{% for i in range({min(depth, 80)}) %}}{{% set ns.x = [ns.x, ns.x] %}}"
                "{% set ns.y = [ns.y, ns.y] %}{% endfor %}{{ ns.x == ns.y }}",
            ),
            ("namespace", "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"),
            ("digits", f"{{{{ '9' * {text} }}}}"),
            ("power", f"{{{{ 7 ** {text} }}}}"),
            ("repeat", f"{{{{ ('ab' * {text}) | length }}}}"),
            ("text-filter", f"{{{{ ('word ' * {text}) | {rng.choice(_TEXT_FILTERS)} }}}}"),
            (
                "scoped",
                f"{{% for i in range({loop}) %}}{{% block b scoped %}}{{% endblock %}}"
                "{% endfor %}",
            ),
            (
                "hash",
                f"{{% set ns = namespace(t=(1,)) %}}{{% for i in range({min(depth, 80)}) %}}"
                "{% set ns.t = (ns.t, ns.t) %}{% endfor %}{{ {ns.t: 1} | length }}",
            ),
            ("syntax", rng.choice(["{{ ", "{% for %}", "{{ x | nofilter }}", "{{ ‘a’ }}"])),
        ]
        plain = not self.odd("template")
        family, fragment = rng.choice(options[:3] if plain else options[3:])
        if family not in ("plain", "name", "filters"):
            self.family(f"template-{family}")
        return fragment


def _plain_text(setting: str) -> bool:
    """Whether openpyxl writes `setting` and "{setting} {index}" as they are: text that is no
    formula, keeps its spaces (no xml:space), fits a cell and holds no character XML escapes by
    name (openpyxl writes the rest as &#N;)."""
    return (
        setting == setting.strip()
        and not setting.startswith(("=", "#"))
        and len(setting) < 32_000
        and not re.search(r"[&<>\x00-\x1f\x7f]", setting)
    )


@functools.cache
def _header_only_workbook(sheet: str) -> bytes:
    """What openpyxl's write-only mode saves for a workbook whose one sheet holds the header
    row alone: the same for every plain axis with that sheet name, so saved once (openpyxl
    writes each sheet through a temporary file, ~10 ms a workbook)."""
    import io

    from openpyxl import Workbook

    book = Workbook(write_only=True)
    book.create_sheet(sheet).append(["code", "setting"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _with_text_rows(saved: bytes, setting: str, rows: int) -> bytes:
    """The workbook openpyxl saved with the header alone, with the rows c{index}, "{setting}
    {index}" written into its first sheet as openpyxl's write-only mode writes them (inline
    strings), byte for byte: openpyxl took ~30 us a cell, most of the drawing's CPU (2-3 s of
    a run of the test). Every other part of the file is openpyxl's."""
    import io
    import zipfile

    text = setting.encode("ascii", "xmlcharrefreplace")  # as openpyxl writes it: &#21335;
    body = b"".join(
        b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>c%d</t></is></c><c r="B%d" t="inlineStr">'
        b"<is><t>%s %d</t></is></c></row>" % (row, row, row - 2, row, text, row - 2)
        for row in range(2, rows + 2)
    )
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(saved)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                end = data.index(b"</sheetData>")
                data = data[:end] + body + data[end:]
                # Deflated faster than openpyxl's level 6 (a scaled sheet holds megabytes):
                # the same parts, in a few more bytes.
                target.writestr(info, data, compresslevel=1)
            else:
                target.writestr(info, data)
    return out.getvalue()


# How often an optional property is written (else 0.4): most recipes have a matrix.
_PRESENT = {("matrix",): 0.9, ("vars",): 0.6, ("defaults",): 0.6}
ODD_PARTS = (
    "strings", "numbers", "name", "max_jobs", "output_dir", "report", "values", "csv", "glob",
    "entries", "defaults", "image", "template", "template", "template", "vars", "xlsx",
)  # fmt: skip
# promptObject fields an include entry sets: (name, values that fit, values that do not)
_FIELDS: list[tuple[str, list[Any], list[Any]]] = [
    ("quality", ["low", "medium", "high"], ["hgih", 2]),
    ("size", ["1024x1024", "1536x1024"], ["1024x1025"]),
    ("n", [1, 2, "{{ 3 }}"], [0, 11, "{{ '9' * 5000 }}"]),
    ("output_format", ["png", "webp"], ["gif"]),
]
_TEXT_FILTERS = ["urlize", "title", "wordwrap", "max", "sort | first", "unique | list | length"]


def draw_schema_case(seed: int, knobs: Knobs = SMALL) -> Case:
    """One recipe and its files from the schema, the same for the same seed and knobs."""
    rng = random.Random(seed)
    draw = SchemaRecipes(_schema(), rng, knobs)
    recipe = draw.instance(draw.schema, ())
    return Case(
        seed,
        to_yaml(recipe),
        draw.files,
        draw.deep,
        COMMANDS[seed % len(COMMANDS)],
        tuple(dict.fromkeys(draw.families)),
    )


@functools.cache
def _schema() -> dict[str, Any]:
    return load_schema()


def to_yaml(value: dict[str, Any]) -> str:
    """Block-style YAML, one key or item a line, every scalar written as JSON (which YAML reads)."""
    return _block(value, 0)


def _block(value: dict[str, Any] | list[Any], indent: int) -> str:
    pad = "  " * indent
    lines = []
    pairs = value.items() if isinstance(value, dict) else (("-", item) for item in value)
    for key, item in pairs:
        label = "-" if isinstance(value, list) else _scalar(str(key)) + ":"
        if isinstance(item, dict | list) and item:
            lines.append(f"{pad}{label}\n{_block(item, indent + 1)}")
        else:
            lines.append(f"{pad}{label} {_scalar(item)}\n")
    return "".join(lines)


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_SPECIAL = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n"})


def _scalar(value: Any) -> str:
    """Plain when YAML reads it back as the same text (keeps 60,000 vars under the 1 MB cap)."""
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, str) and _PLAIN.fullmatch(value) and value.lower() not in _SPECIAL:
        return value
    return json.dumps(value, ensure_ascii=False)


# --- running a case ------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    seed: int
    command: tuple[str, ...]
    code: int | None  # the exit code; None when the child was killed
    wall: float
    cpu: float
    peak_mib: float  # the child's peak resident memory
    output_bytes: int
    detail: str = ""  # the traceback of an internal error, or how the child died

    @property
    def ok(self) -> bool:
        return self.code in (0, 2)


def write_case(case: Case, folder: Path) -> Path:
    """The project of `case` in `folder` (emptied first); returns the recipe's path."""
    if folder.exists():
        remove_tree(folder)
    (folder / ".git").mkdir(parents=True)
    for name, data in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if case.deep:
        where = str(folder / "deep")
        os.mkdir(where)
        for _ in range(case.deep):
            where = os.path.join(where, "d")
            os.mkdir(where)
        with open(os.path.join(where, "z.png"), "wb") as handle:
            handle.write(png_bytes())
    recipe = folder / "recipe.yaml"
    recipe.write_text(case.recipe, "utf-8")
    return recipe


def remove_tree(folder: Path) -> None:
    """rmtree without recursion (os.walk and shutil.rmtree recurse): a case may hold a tree
    thousands of folders deep."""
    stack = [str(folder)]
    while stack:
        path = stack[-1]
        below = []
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    below.append(entry.path)
                else:
                    os.remove(entry.path)
        if below:
            stack.extend(below)
        else:
            os.rmdir(path)
            stack.pop()


def run_forked(
    case: Case, folder: Path, *, memory_bytes: int = 2 << 30, cpu_seconds: int = 60
) -> Result:
    """Run `case`'s command on its project in a child forked from this process, under resource
    limits."""
    recipe = write_case(case, folder)
    out_path, err_path = folder / "stdout.txt", folder / "stderr.txt"
    args = [*case.command[:1], str(recipe), *case.command[1:]]
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        _child(args, out_path, err_path, memory_bytes, cpu_seconds)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return _result(case, folder, status, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)


class ForkServer:
    """Runs each case as `run_forked` does, in a child forked from a small process started once
    that has imported the CLI and run each command once, rather than from the caller.

    Forking a pytest worker that ran hundreds of tests first copies its page tables and then
    copy-on-writes its large heap, and the child imports whatever lazily imported modules (rich,
    openpyxl, the plan's output code) that worker's earlier tests happened not to: 50 to 80 ms
    of CPU for a small case where the same case forked from here takes 30. Each case's child still
    runs under the same limits, with the same arguments and output files, and its exit status,
    CPU time and peak memory come back from the server's wait4."""

    def __init__(self) -> None:
        root = str(Path(__file__).resolve().parent.parent)
        code = f"import sys; sys.path.insert(0, {root!r}); import tests.schema_fuzz as s; s.serve()"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def run(
        self, case: Case, folder: Path, *, memory_bytes: int = 2 << 30, cpu_seconds: int = 60
    ) -> Result:
        recipe = write_case(case, folder)
        args = [*case.command[:1], str(recipe), *case.command[1:]]
        request = {
            "args": args,
            "out": str(folder / "stdout.txt"),
            "err": str(folder / "stderr.txt"),
            "memory_bytes": memory_bytes,
            "cpu_seconds": cpu_seconds,
        }
        assert self.process.stdin is not None and self.process.stdout is not None
        start = time.perf_counter()
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        wall = time.perf_counter() - start
        if not line:
            raise RuntimeError(f"the fork server ended (exit {self.process.wait()})")
        reply = json.loads(line)
        return _result(case, folder, reply["status"], wall, reply["cpu"], reply["maxrss"])

    def close(self) -> None:
        """Ends the server and waits for it (its children's CPU is then the caller's)."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def serve() -> None:
    """The fork server's loop: one JSON request a line on stdin, one reply a line on stdout."""
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # the children read nothing from the caller's pipe...
    os.dup2(null, 1)  # ...and write nothing into the replies
    os.close(null)
    warm_up()
    _run_each_command()
    for line in requests:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: never returns
            try:
                requests.close()
                replies.close()
            finally:
                _child(
                    request["args"],
                    Path(request["out"]),
                    Path(request["err"]),
                    request["memory_bytes"],
                    request["cpu_seconds"],
                )
        _, status, usage = os.wait4(pid, 0)
        reply = {"status": status, "cpu": usage.ru_utime + usage.ru_stime}
        replies.write(json.dumps({**reply, "maxrss": usage.ru_maxrss}) + "\n")
        replies.flush()


def _run_each_command() -> None:
    """Each command once, in this process, on small drawn cases (one reads a workbook): the
    modules they import lazily are then loaded before any case's child is forked."""
    import tempfile

    from runner.cli import main

    with tempfile.TemporaryDirectory() as scratch:
        for seed, command in zip((1, 2, 3, 4), COMMANDS, strict=True):
            recipe = write_case(replace(draw_schema_case(seed), command=command), Path(scratch))
            with open(os.devnull, "w", encoding="utf-8") as sink:
                saved = sys.stdout, sys.stderr
                sys.stdout = sys.stderr = sink
                try:
                    main([*command[:1], str(recipe), *command[1:]])
                except SystemExit:
                    pass
                finally:
                    sys.stdout, sys.stderr = saved


def _result(case: Case, folder: Path, status: int, wall: float, cpu: float, maxrss: int) -> Result:
    out_path, err_path = folder / "stdout.txt", folder / "stderr.txt"
    code: int | None = os.waitstatus_to_exitcode(status)
    detail = ""
    if code is not None and code < 0:
        detail = f"killed by {signal.Signals(-code).name}"
        code = None
    output = out_path.stat().st_size + err_path.stat().st_size
    if code not in (0, 2):
        detail = detail or err_path.read_text("utf-8", "replace")[-4000:]
    return Result(case.seed, case.command, code, wall, cpu, maxrss / 1024, output, detail)


def _mapped_bytes() -> int:
    """This process's address space now (Linux), or 0 where /proc cannot say."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _child(
    args: list[str], out_path: Path, err_path: Path, memory_bytes: int, cpu_seconds: int
) -> None:
    code = 70
    try:
        # On top of what the child inherits: a pytest worker that ran other tests first (their
        # threads' stacks, freed arenas) maps hundreds of MB a fresh process does not.
        limit = _mapped_bytes() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
        out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        os.environ["BACKDROP_DEBUG"] = "1"  # an internal error raises: its traceback is shown
        os.environ.pop("GITHUB_ACTIONS", None)
        from runner.cli import main

        try:
            main(args)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 70
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def warm_up() -> None:
    """Import what a case uses before forking, so that each child starts with it loaded."""
    # What a case's child would otherwise import itself (seen in the children's sys.modules over
    # the 324 cases): jinja2.debug when a template raises (20 ms), xml.sax.saxutils for an xlsx
    # cell's entities (it imports urllib.request, http.client and ssl: 19 ms), the glob axis.
    import xml.sax.saxutils  # noqa: F401

    import charset_normalizer  # noqa: F401
    import jinja2.debug  # noqa: F401
    import jsonschema  # type: ignore[import-untyped]  # noqa: F401
    from PIL import Image  # noqa: F401

    import runner.cli  # noqa: F401
    from runner.plan import globaxis, planner  # noqa: F401
    from runner.recipe import build  # noqa: F401
    from runner.templating.environment import make_template_environment

    make_template_environment()


def cases(first: int, count: int, knobs: Knobs) -> Iterator[Case]:
    for seed in range(first, first + count):
        yield draw_schema_case(seed, knobs)


def scaled(knobs: Knobs, factor: float) -> Knobs:
    """`knobs` with every size multiplied by `factor` (at least 1)."""
    sizes = {
        name: max(1, int(getattr(knobs, name) * factor)) for name in knobs.__dataclass_fields__
    }
    return replace(knobs, **sizes)


__all__ = [
    "COMMANDS",
    "LARGE",
    "SMALL",
    "Case",
    "ForkServer",
    "Knobs",
    "Result",
    "cases",
    "draw_schema_case",
    "remove_tree",
    "run_forked",
    "scaled",
    "warm_up",
    "write_case",
]
