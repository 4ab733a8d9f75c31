"""Mutated recipes and CSV files for fuzzing `validate` and `plan` (generated, never committed).

Shared by the fuzz test (tests/test_fuzz_front_end.py) and its benchmark (bench/bench_fuzz.py).
The outcome of one case is classified exactly as the CLI would: a BackdropError is a message
for the user (fine); any other exception is an internal error (exit 70).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import AnyStr

from runner.diagnostics import BackdropError
from runner.plan.plan_model import Plan
from runner.plan.planner import plan_recipe
from runner.recipe.build import load_recipe
from tests.plan_support import png_bytes, write_files

SEEDS = (
    """\
version: 1
name: fuzz
defaults:
  quality: medium
  size: 1024x1024
vars:
  brand: Acme
matrix:
  product:
    - { sku: MUG-01, name: mug }
  season: [spring, winter]
  market: { csv: data/m.csv }
  exclude:
    - { season: winter, market: { code: ja-JP } }
  include:
    - { product: { sku: MUG-01 }, quality: high }
image: images/a.png
prompt: "{{ product.name }} in {{ season }}, {{ market.setting }}, {{ brand }}"
output: "{{ market.code }}/{{ product.sku | slug }}-{{ season }}"
""",
    """\
version: 1
name: fuzz-two
matrix:
  shot: { glob: "images/*.png" }
  tone: { yaml: data/m.yaml }
image: "{{ shot.path }}"
prompt: "a {{ tone }} kitchen"
output: "{{ shot.stem }}-{{ tone | slug }}"
report: { rows: shot, columns: tone }
""",
    """\
version: 1
name: fuzz-three
output_dir: out/x
max_jobs: 5
defaults: { n: 2, output_format: jpeg, output_compression: 80, quality: low }
image: images/a.png
prompt: |
  a mug on a table
output: mug
""",
)
CSV_SEED = 'code,setting\r\nfr-FR,"a café, Paris"\r\nja-JP,a tatami room\r\n'.encode()
YAML_AXIS = "- warm\n- cold\n"

RECIPE_TOKENS = (
    ":",
    ": ",
    "- ",
    "\n",
    "  ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    '"',
    "'",
    "&a ",
    "*a",
    "!!int ",
    "!!python/name:os.system ",
    "<<: *a\n",
    "---\n",
    "#",
    "|",
    ">",
    "?",
    "%",
    "`",
    "{{",
    "}}",
    "{%",
    "%}",
    "{{ season }}",
    "{{ product.nme }}",
    " | slug",
    " | upper",
    "| truncate(5)",
    " ~ ",
    "..",
    "../",
    "/",
    "/etc/passwd",
    "/**",
    "**",
    "*.png",
    "\\0",
    "\\ud800",
    "\\x41",
    "\\u00e9",
    "\x1b[2J",
    "\u202e",
    "é",
    "急須",
    "9" * 1200,  # past the loader's cap; 5,000 digits in a template: see the xfail test
    "1e999",
    ".nan",
    "-1",
    "0",
    "11",
    "1024x1024",
    "high",
    "hgih",
    "NO",
    "yes",
    "null",
    "~",
    "true",
    "promt",
    "qualty",
    "exclude",
    "include",
    "matrix",
    "csv",
    "glob",
    "yaml",
    "output_dir",
    "max_jobs",
    "name",
    "version",
    "image",
    "output",
    "prompt",
    "data/m.csv",
    "images/a.png",
    "winter",
    "Winter",
    "CON",
    "a" * 300,
    "[" * 300,
    "{a: " * 60,
    "sk-test-0123456789abcdef",
    "{ glob: '**' }",
    "{ yaml: data/m.csv }",
    "{ csv: images/a.png }",
    "{ csv: ../m.csv }",
    "\n  include:\n    - { qualty: high }\n",
    "\n  exclude:\n    - { season: Winter }\n",
    "\n  exclude:\n    - { market: { code: 1 } }\n",
)
CSV_TOKENS = (
    b",",
    b";",
    b"\t",
    b'"',
    b"\r\n",
    b"\n",
    b"\r",
    b"sep=;\n",
    b"code",
    b"setting",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xfe\xff",
    b"\x00",
    "é".encode("cp1252"),
    "急須のテーブル".encode("shift_jis"),
    "café".encode("mac_roman"),
    "é".encode(),
    b"\x80",
    b"x" * 2000,
    b"ja-JP",
    b"{{ x }}",
    b"=cmd|' /C calc'!A0",
    b"\x1b]0;title\x07",
)

OPS = ("insert", "delete", "replace", "duplicate")


@dataclass(frozen=True)
class Mutation:
    op: str  # one of OPS; "duplicate" repeats a line
    at: int  # position as a fraction of the text, in 1/10,000
    length: int
    token: int


def draw_mutations(rng: random.Random, max_size: int) -> list[Mutation]:
    return [
        Mutation(rng.choice(OPS), rng.randint(0, 10_000), rng.randint(1, 40), rng.randint(0, 999))
        for _ in range(rng.randint(0, max_size))
    ]


def draw_case(seed: int) -> tuple[str, bytes]:
    """One mutated recipe and one mutated CSV file, the same for the same seed everywhere.

    A plain seeded generator rather than Hypothesis strategies: drawing six mutations through
    Hypothesis cost as much time as planning the recipe.
    """
    rng = random.Random(seed)
    text = mutate(rng.choice(SEEDS), draw_mutations(rng, 6), RECIPE_TOKENS)
    return text, mutate(CSV_SEED, draw_mutations(rng, 4), CSV_TOKENS)


def mutate(text: AnyStr, steps: list[Mutation], tokens: tuple[AnyStr, ...]) -> AnyStr:
    for step in steps:
        at = len(text) * step.at // 10_000
        token = tokens[step.token % len(tokens)]
        if step.op == "insert":
            text = text[:at] + token + text[at:]
        elif step.op == "delete":
            text = text[:at] + text[at + step.length :]
        elif step.op == "replace":
            text = text[:at] + token + text[at + step.length :]
        else:
            lines: list[AnyStr] = text.splitlines(keepends=True)
            if lines:
                where: int = len(lines) * step.at // 10_001
                lines.insert(where, lines[where])
                text = text[:0].join(lines)
    return text


def make_project(folder: Path) -> Path:
    """The files the seeds name; each case overwrites recipe.yaml and data/m.csv."""
    (folder / ".git").mkdir(parents=True, exist_ok=True)  # the project root
    write_files(
        folder,
        {
            "images/a.png": png_bytes(),
            "images/b.png": png_bytes(rgb=(0, 90, 200)),
            "data/m.yaml": YAML_AXIS,
            "data/m.csv": CSV_SEED,
        },
    )
    return folder / "recipe.yaml"


@dataclass(frozen=True)
class Outcome:
    kind: str  # "plan", "error" (a BackdropError) or "internal"
    seconds: float
    detail: str = ""


def run_case(recipe: Path, text: str, csv: bytes) -> Outcome:
    """Write one case, then validate and plan it the way the CLI does, printing included."""
    _replace(recipe, text.encode("utf-8", "surrogatepass"))
    _replace(recipe.parent / "data" / "m.csv", csv)
    start = time.perf_counter()
    try:
        plan = plan_recipe(load_recipe(recipe, display="recipe.yaml"))
        _printable(_plan_json(plan))
        kind = "plan"
    except BackdropError as error:
        for diagnostic in error.diagnostics():
            _printable(diagnostic.render())
            _printable(json.dumps(diagnostic.to_json(), ensure_ascii=False))
        kind = "error"
    except Exception:  # exactly what the CLI reports as an internal error (exit 70)
        return Outcome("internal", time.perf_counter() - start, traceback.format_exc())
    return Outcome(kind, time.perf_counter() - start)


def _replace(path: Path, data: bytes) -> None:
    # A new file rather than a truncated one: ext4 flushes a file truncated and rewritten, which
    # made writing the two files cost more than planning them. Plain os calls: pathlib's
    # unlink and write_bytes cost 2-4% of the 5,000 cases' CPU.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view) :]
    finally:
        os.close(handle)


def _plan_json(plan: Plan) -> str:
    """What `plan --json` writes (runner.commands.terminal.print_plan_json), as one string."""
    from runner.plan.plan_json import plan_json_chunks

    shown = {"recipe_path": str(plan.recipe_path), "output_dir": str(plan.output_dir)}
    return "".join(plan_json_chunks(plan, **shown))


def _printable(text: str) -> None:
    text.encode("utf-8")  # what a UTF-8 terminal or a CI log would be sent
