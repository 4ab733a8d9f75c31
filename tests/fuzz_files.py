"""Hostile files a pull request can commit, generated from their formats (not by mutation):
backdrop.lock (its JSON fields), .backdrop/state.db (its tables' columns) and review.yaml
(runner/schemas/review.schema.json). Shared by tests/test_fuzz_front_end.py and bench/bench_fuzz.py.

Each generator draws, per field, either a value backdrop writes or a hostile one of the
field's kind (wrong JSON types, numbers of thousands of digits, deep nesting, NUL and control
characters, lone surrogates, names no disk takes, paths out of the folder), and each case is
run through every reader of that file the way the CLI calls it. As in fuzz_support, a
BackdropError is a message for the user; anything else is an internal error (exit 70).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runner.diagnostics import BackdropError
from runner.plan.plan_model import Plan
from runner.records.lockfile import LOCK_NAME
from runner.records.run_records import FileRecord
from runner.records.state import STATE_FILE, StateStore
from runner.records.state_folder import STATE_DIR
from runner.records.state_schema import SCHEMA
from tests.fuzz_support import Outcome
from tests.plan_support import png_bytes
from tests.runhelp import make_plan

FAMILIES = ("locks", "states", "reviews")

# --- hostile values, by kind ------------------------------------------------------------------

HOSTILE_TEXT = (
    "",
    "a\x00b",
    "\x1b]0;title\x07",
    "line\nbreak",
    "\ud800",
    "n" * 405,
    "é" * 200,
    "../../etc/passwd",
    "/etc/passwd",
    "a\\b",
    ".backdrop/state.db",
    "a//b.png",
    "./a.png",
    "\u202egnp.exe",
    "::error::x",
)


def hostile_json(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of any kind, often not the one a field wants."""
    roll = rng.randrange(12)
    if roll == 0:  # written out as digits by dumps and yaml_text (Python cannot hold them)
        return f"@@{rng.choice((20, 1200, 5000))}@@"
    if roll == 1:
        return rng.choice((True, False, None, 0, -1, 1.5, 1e308))
    if roll == 2:
        return rng.choice(HOSTILE_TEXT)
    if roll == 3 and depth < 3:
        return [hostile_json(rng, depth + 1) for _ in range(rng.randrange(3))]
    if roll == 4 and depth < 3:
        return {rng.choice(("path", "n", "x", "")): hostile_json(rng, depth + 1)}
    if roll == 5:
        return nested(rng.choice((10, 100, 2000)))
    return rng.choice(("text", 2, [], {}))


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


_LONG = re.compile(r"""["']?@@(\d+)@@["']?""")


def long_numbers(text: str) -> str:
    """The placeholders of hostile_json's long numbers, as the digits themselves."""
    return _LONG.sub(lambda match: "9" * int(match.group(1)), text)


def dumps(value: Any) -> str:
    """JSON text of any value, however deep (json.dumps recurses) or long its numbers."""
    if isinstance(value, list) and value and _depth(value) > 50:
        depth = _depth(value)
        return "[" * depth + "]" * depth
    try:
        return long_numbers(json.dumps(value, ensure_ascii=False))
    except (ValueError, RecursionError):
        return '"?"'


def _depth(value: Any) -> int:
    depth = 0
    while isinstance(value, list) and value:
        depth, value = depth + 1, value[0]
    return depth + 1


# --- backdrop.lock ----------------------------------------------------------------------------

LOCK_FIELDS = ("path", "job", "sha256", "request")


def draw_lock(rng: random.Random, plan: Plan, files: dict[str, str]) -> bytes:
    """A lock for `plan`'s folder: each field as backdrop writes it, or hostile."""

    def field(good: Any) -> Any:
        return good if rng.random() < 0.8 else hostile_json(rng)

    outputs = []
    for job in rng.sample(plan.jobs, rng.randint(0, len(plan.jobs))):
        for path in job.outputs:
            entry = {
                "path": field(path),
                "job": field(job.key),
                "sha256": field(files.get(path, "0" * 64)),
                "request": field({"prompt": "0123456789ab"}),
            }
            for name in LOCK_FIELDS:
                if rng.random() < 0.05:
                    del entry[name]
            outputs.append(entry)
    if outputs and rng.random() < 0.1:
        outputs.append(dict(outputs[0]))  # a path listed twice
    data = {
        "format": field(2),
        "generator": field("backdrop"),
        "recipe": field(plan.recipe_name),
        "outputs": outputs if rng.random() < 0.9 else hostile_json(rng),
    }
    if rng.random() < 0.05:
        data = hostile_json(rng)
    text = _render(rng, data)
    raw = text.encode("utf-8", "surrogatepass")
    cut = rng.random()
    if cut < 0.05:
        raw = raw[: rng.randrange(len(raw) + 1)]
    elif cut < 0.08:
        raw = b"\xff\xfe" + raw
    elif cut < 0.1:
        raw += b" trailing"
    return raw


def _render(rng: random.Random, data: Any) -> str:
    """JSON text the way backdrop writes it (one output a line), on one line, or indented."""
    if not isinstance(data, dict) or not isinstance(data.get("outputs"), list):
        return dumps(data)
    head = {key: value for key, value in data.items() if key != "outputs"}
    rows = [dumps(row) for row in data["outputs"]]
    glue = rng.choice((",\n    ", ", ", ",\t"))
    fields = [f"{dumps(key)}: {dumps(value)}" for key, value in head.items()]
    fields.append('"outputs": [' + glue.join(rows) + "]")
    return "{\n  " + ",\n  ".join(fields) + "\n}\n"


def place_files(rng: random.Random, plan: Plan) -> dict[str, str]:
    """Some outputs on disk, as backdrop writes them or not: whole, cut short, text, a pipe,
    a link out of the project, a folder. Returns the sha256 of each regular file."""
    out = plan.output_dir
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    hashes: dict[str, str] = {}
    for number, job in enumerate(plan.jobs):
        for path in job.outputs:
            target = out / path
            target.parent.mkdir(parents=True, exist_ok=True)
            kind = rng.randrange(8)
            if kind <= 2:
                data = png_bytes(rgb=(number, 1, 2))
            elif kind == 3:
                data = png_bytes(rgb=(number, 1, 2))[:30]
            elif kind == 4:
                data = b"not an image\n"
            elif kind == 5 and hasattr(os, "mkfifo"):
                os.mkfifo(target)
                continue
            elif kind == 6:
                target.symlink_to(out.parent.parent / "outside.png")
                continue
            else:
                target.mkdir()
                continue
            target.write_bytes(data)
            hashes[path] = hashlib.sha256(data).hexdigest()
    return hashes


def run_lock_case(plan: Plan, seed: int) -> Outcome:
    rng = random.Random(seed)
    files = place_files(rng, plan)
    (plan.output_dir / LOCK_NAME).write_bytes(draw_lock(rng, plan, files))
    return _classify(lambda: _read_lock_everywhere(plan))


def _read_lock_everywhere(plan: Plan) -> None:
    from runner.execute.preview import preview_run
    from runner.execute.previous import read_previous
    from runner.execute.run_options import RunOptions
    from runner.plan.diff import diff_plan
    from runner.records.lock_reader import verify_outputs

    for reader in (
        lambda: diff_plan(plan, read_previous(plan.output_dir, plan)),
        lambda: verify_outputs(plan.output_dir),
        lambda: preview_run(plan, RunOptions()),
        *status_readers(plan),
    ):
        try:
            reader()
        except BackdropError as error:
            _printable(error)


# --- .backdrop/state.db -----------------------------------------------------------------------

JSON_COLUMNS = frozenset({"vars", "prompt_object", "outputs", "result_keys", "job_keys", "axes"})


def state_columns() -> dict[str, list[tuple[str, str]]]:
    """table -> [(column, declared type)], from the state's own schema."""
    conn = sqlite3.connect(":memory:")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    columns = {
        table: [(row[1], row[2]) for row in conn.execute(f"PRAGMA table_info({table})")]
        for table in tables
        if table != "sqlite_sequence"
    }
    conn.close()
    return columns


def hostile_cell(rng: random.Random, column: str, declared: str) -> tuple[str, Any]:
    """(SQL expression, parameter) for a value of `column` that backdrop never writes."""
    if column in JSON_COLUMNS and rng.random() < 0.6:
        return "?", dumps(hostile_json(rng))
    roll = rng.randrange(9)
    if roll == 0:
        return "CAST(? AS TEXT)", bytes([0xFF, 0xC3, 0x28])  # not UTF-8
    if roll == 1:
        return "?", "9" * rng.choice((30, 5000))
    if roll == 2:
        return "?", rng.choice(HOSTILE_TEXT).encode("utf-8", "surrogatepass").decode(
            "utf-8", "replace"
        )
    if roll == 3:
        return "?", b"\x00\x01blob"
    if roll == 4:
        return "?", rng.choice((-1, 2**62, 1.5, float("inf")))
    if roll == 5:
        return "?", None
    if roll == 6:
        return "?", "text" if "INT" in declared or "REAL" in declared else 42
    if roll == 7:
        return "?", "de-DE/" + "n" * 401 + ".png"
    return "?", "{not json"


def make_state(plan: Plan) -> bytes:
    """A real state of a run of `plan` (every job paid and done): the bytes of state.db."""
    shutil.rmtree(plan.output_dir, ignore_errors=True)
    with StateStore.open(plan.output_dir) as state:
        state.begin_run(plan, "run-1")
        for job in plan.jobs:
            state.record_generation(job.key, f"uuid-{job.key[:8]}", [f"r/{job.key}"], None, 9)
            for index, path in enumerate(job.outputs):
                data = png_bytes(rgb=(job.index, index, 3))
                target = plan.output_dir / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                record = FileRecord(path, hashlib.sha256(data).hexdigest(), 2, 2, len(data))
                state.record_file(job.key, index, record)
            state.mark_done(job.key)
        state.mark_sent(plan.jobs[0].key)  # one generation sent and never answered
    conn = sqlite3.connect(plan.output_dir / STATE_DIR / STATE_FILE)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    return (plan.output_dir / STATE_DIR / STATE_FILE).read_bytes()


def run_state_case(
    plan: Plan, state: bytes, columns: dict[str, list[tuple[str, str]]], seed: int
) -> Outcome:
    rng = random.Random(seed)
    path = plan.output_dir / STATE_DIR / STATE_FILE
    for extra in ("-wal", "-shm"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    path.write_bytes(state)
    conn = sqlite3.connect(path)
    try:
        if rng.random() < 0.05:  # the schema itself: a table's name that is not UTF-8
            conn.executescript(
                "PRAGMA writable_schema = ON; UPDATE sqlite_master SET name = "
                f"CAST(X'FF53' AS TEXT) WHERE name = '{rng.choice(sorted(columns))}'"
            )
        for _ in range(rng.randint(1, 3)):
            table = rng.choice(sorted(columns))
            column, declared = rng.choice(columns[table])
            expression, value = hostile_cell(rng, column, declared)
            conn.execute(
                f"UPDATE {table} SET {column} = {expression}"
                f" WHERE rowid = (SELECT rowid FROM {table} ORDER BY random() LIMIT 1)",
                (value,),
            )
        conn.commit()
    except sqlite3.Error:
        pass  # a constraint refused this value: the case goes on with the others
    finally:
        conn.close()
    return _classify(lambda: _read_state_everywhere(plan))


def _read_state_everywhere(plan: Plan) -> None:
    from runner.execute.budget import spent_usd
    from runner.execute.preview import preview_run
    from runner.execute.previous import read_previous
    from runner.execute.run_options import RunOptions
    from runner.plan.diff import diff_plan

    readers: list[Callable[[], object]] = [
        lambda: diff_plan(plan, read_previous(plan.output_dir, plan)),
        lambda: preview_run(plan, RunOptions()),
        lambda: spent_usd(plan.output_dir, plan.prices),
        lambda: StateStore.read_snapshot(plan.output_dir),
        lambda: StateStore.count_unanswered(plan.output_dir),
        lambda: _written_files(plan.output_dir),
        *status_readers(plan),
    ]
    for reader in readers:
        try:
            reader()
        except BackdropError as error:
            _printable(error)


def _written_files(output_dir: Path) -> object:
    """What `status` and `prune` read of the files runs wrote (sizes included)."""
    with StateStore.open_read_only(output_dir) as store:
        return store.written_files()


# --- review.yaml ------------------------------------------------------------------------------


def draw_review(rng: random.Random, schema: dict[str, Any], keys: list[str]) -> str:
    """A review.yaml drawn from its schema: valid values mostly, hostile ones of every kind."""
    jobs = {}
    for _ in range(rng.randint(0, 8)):
        key = rng.choice(keys) if rng.random() < 0.7 else rng.choice((*HOSTILE_TEXT, "a/../b"))
        jobs[key] = from_schema(rng, schema["$defs"]["decision"], schema)
    data: Any = {"version": 1 if rng.random() < 0.9 else hostile_json(rng), "jobs": jobs}
    if rng.random() < 0.05:
        data = hostile_json(rng)
    if rng.random() < 0.1:
        data = {**data, "extra": hostile_json(rng)} if isinstance(data, dict) else data
    try:
        text = yaml.safe_dump(
            data,
            allow_unicode=rng.random() < 0.5,
            default_flow_style=rng.choice((False, True, None)),
            width=rng.choice((80, 10_000)),
        )
    except (yaml.YAMLError, RecursionError, ValueError):
        text = "version: 1\njobs: " + dumps(hostile_json(rng)) + "\n"
    text = long_numbers(text)
    roll = rng.random()
    if roll < 0.05:  # a key written twice
        text += text.split("\n", 1)[0] + "\n"
    elif roll < 0.1:
        text = text.replace("  ", "\t", 1)
    elif roll < 0.13:
        text = "jobs: &a [*a]\n"
    return text


def from_schema(rng: random.Random, node: dict[str, Any], root: dict[str, Any]) -> Any:
    """A value for a JSON-schema node: valid with probability 0.85, else hostile."""
    if "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[1]]
    if rng.random() < 0.15:
        return hostile_json(rng)
    if "enum" in node:
        return rng.choice(node["enum"])
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties", {})
        out = {name: from_schema(rng, props[name], root) for name in node.get("required", [])}
        for name in props:
            if name not in out and rng.random() < 0.4:
                out[name] = from_schema(rng, props[name], root)
        return out
    if kind == "array":
        return [from_schema(rng, node["items"], root) for _ in range(rng.randint(0, 3))]
    if kind == "integer":
        return rng.randint(node.get("minimum", 0), node.get("maximum", 1000))
    if kind == "string":
        return rng.choice(("too dark", "é" * rng.randint(0, node.get("maxLength", 10) + 5)))
    return None


def run_review_case(plan: Plan, keys: list[str], seed: int) -> Outcome:
    from runner.review.decisions import load_review, review_schema

    rng = random.Random(seed)
    folder = plan.output_dir
    text = draw_review(rng, review_schema(), keys)
    path = folder / "review.yaml"
    path.unlink(missing_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))

    def read() -> None:
        for reader in (lambda: load_review(folder), *status_readers(plan)):
            try:
                reader()
            except BackdropError as error:
                _printable(error)

    return _classify(read)


# --- shared -----------------------------------------------------------------------------------


def status_readers(plan: Plan) -> tuple[Callable[[], object], ...]:
    """`status` of the recipe and of the output folder alone (its recipe found from the state):
    it reads the lock, the state and review.yaml, and must never be exit 70 either."""
    from runner.status.campaign import campaign_status

    return (
        lambda: campaign_status(plan.output_dir, plan),
        lambda: campaign_status(plan.output_dir, None),
    )


def _classify(case: Callable[[], None]) -> Outcome:
    start = time.perf_counter()
    try:
        case()
    except Exception:  # exactly what the CLI reports as an internal error (exit 70)
        return Outcome("internal", time.perf_counter() - start, traceback.format_exc())
    return Outcome("ok", time.perf_counter() - start)


def _printable(error: BackdropError) -> None:
    for diagnostic in error.diagnostics():
        diagnostic.render().encode("utf-8")  # what a terminal or a CI log would be sent
        json.dumps(diagnostic.to_json(), ensure_ascii=False).encode("utf-8")


@dataclass
class Bench:
    """One family's fixture: a plan in a folder, made once for many cases."""

    family: str
    folder: Path

    def __post_init__(self) -> None:
        # The project is a repository; outside.png beside it is what links must not reach.
        (self.folder / "project" / ".git").mkdir(parents=True, exist_ok=True)
        (self.folder / "outside.png").write_bytes(png_bytes())
        self.plan = make_plan(self.folder / "project")
        self.columns = state_columns()
        self.state = make_state(self.plan) if self.family == "states" else b""
        self.keys = [job.outputs[0].rsplit(".", 1)[0] for job in self.plan.jobs]

    def run(self, seed: int) -> Outcome:
        if self.family == "locks":
            return run_lock_case(self.plan, seed)
        if self.family == "states":
            return run_state_case(self.plan, self.state, self.columns, seed)
        self.plan.output_dir.mkdir(parents=True, exist_ok=True)
        return run_review_case(self.plan, self.keys, seed)
