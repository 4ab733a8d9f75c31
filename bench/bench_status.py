"""Benchmark: `backdrop status` on a campaign of 5,000 jobs, reviewed and exported.

Builds, in a temporary folder, a recipe of 50 products x 4 seasons x 25 markets (a CSV), and
the folder a finished campaign leaves: a state recording a run of every job with its image on
disk (a distinct small PNG each), backdrop.lock, a review.yaml approving every job on its
images (one rejected in ten), and an export of the approved ones (exports.json, manifest.csv
and the delivered copies). Then times `backdrop status RECIPE --format json` and
`backdrop status OUTDIR` in this process (the command as the CLI runs it: planning, state,
locks, review.yaml, spend, deliveries), and as a whole new process, start-up included.

`backdrop validate RECIPE` (the same plan, and nothing else) is timed beside it as a new process,
as a yardstick: a busy machine slows both alike.

Run: .venv/bin/python bench/bench_status.py [--jobs 5000]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.cli import main
from runner.deliver.export_outputs import ExportOptions, export_outputs
from runner.plan.planner import plan_recipe
from runner.recipe.build import load_recipe
from runner.records.lockfile import LOCK_NAME, build_lock, render_lock
from runner.records.run_records import FileRecord
from runner.records.state import StateStore
from runner.review import decisions
from runner.review.decision_model import Decision, Review, Status, review_key
from runner.review.decisions import save_review

SEASONS = ("spring", "summer", "autumn", "winter")
MARKETS = 25
RUNS = 3


def png(seed: int) -> bytes:
    """A 4x4 PNG whose pixels depend on `seed`: every job's image is distinct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    pixel = bytes((seed % 251, seed // 251 % 251, 90))
    raw = b"".join(b"\x00" + pixel * 4 for _ in range(4))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def write_recipe(folder: Path, jobs: int) -> Path:
    products = max(1, jobs // (len(SEASONS) * MARKETS))
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "images" / "product.png").write_bytes(png(7))
    (folder / "data").mkdir(exist_ok=True)
    rows = ["code,setting"] + [f"m{i:02d}-XX,setting number {i}" for i in range(MARKETS)]
    (folder / "data" / "markets.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    lines = [
        "version: 1",
        "name: bench-status",
        "budget: 500",
        "defaults: { size: 1024x1024, quality: low, n: 1, output_format: png }",
        "matrix:",
        "  product:",
        *(f"    - {{ sku: SKU-{i:05d}, image: images/product.png }}" for i in range(products)),
        f"  season: [{', '.join(SEASONS)}]",
        "  market: { csv: data/markets.csv }",
        'image: "{{ product.image }}"',
        'prompt: "{{ product.sku }} on {{ market.setting }} in {{ season }}"',
        'output: "{{ market.code }}/{{ product.sku }}-{{ season }}"',
    ]
    recipe = folder / "recipe.yaml"
    recipe.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return recipe


def finished_campaign(folder: Path, jobs: int) -> tuple[Path, Path]:
    """The recipe and its output folder, generated, reviewed and exported."""
    recipe = write_recipe(folder, jobs)
    plan = plan_recipe(load_recipe(recipe))
    out = plan.output_dir
    approved: dict[str, Decision] = {}
    with StateStore.open(out) as store:
        store.begin_run(plan, "run-1")
        store._conn.execute("PRAGMA synchronous = OFF")  # setup only: 5,000 fsyncs take minutes
        for number, job in enumerate(plan.jobs):
            data = png(number)
            sha = hashlib.sha256(data).hexdigest()
            (out / job.outputs[0]).parent.mkdir(parents=True, exist_ok=True)
            (out / job.outputs[0]).write_bytes(data)
            store.record_generation(job.key, f"uuid-{number}", [f"k/{number}"], None, None)
            store.record_file(job.key, 0, FileRecord(job.outputs[0], sha, 4, 4, len(data)))
            store.mark_done(job.key)
            status: Status = "rejected" if number % 10 == 0 else "approved"
            approved[review_key(job.outputs)] = Decision(status, sha256=(sha,))
        store.finish_run("run-1")
        snapshot = store.snapshot()
    save_review(out, Review(approved))
    (out / LOCK_NAME).write_text(render_lock(build_lock(snapshot)), encoding="utf-8")
    decided = Review(approved).decisions
    export_outputs(out, folder / "delivery", snapshot, decided, (), ExportOptions())
    return recipe, out


def in_process(*args: str) -> tuple[float, float, str]:
    """One `backdrop ARGS` in this process: wall and CPU seconds, and what it printed."""
    decisions._LAST_SEEN.seen.clear()  # every call parses review.yaml, as a new process does
    printed = io.StringIO()
    wall, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(printed), contextlib.suppress(SystemExit):
        main(list(args))
    return time.perf_counter() - wall, time.process_time() - cpu, printed.getvalue()


def new_process(*args: str) -> tuple[float, float]:
    """`python -m runner ARGS` as a new process: wall and CPU seconds, start-up included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run([sys.executable, "-m", "runner", *args], check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return time.perf_counter() - wall, cpu


def bench(jobs: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="backdrop-bench-status-"))
    recipe, out = finished_campaign(folder, jobs)
    in_process("status", str(recipe), "--format", "json")  # imports, outside the figures
    print(f"{jobs:,} jobs (best of {RUNS}; wall / CPU):")
    for what, target in (("RECIPE", str(recipe)), ("OUTDIR", str(out))):
        here = min(in_process("status", target, "--format", "json")[:2] for _ in range(RUNS))
        whole = min(new_process("status", target) for _ in range(RUNS))
        print(
            f"  status {what}: in process {here[0] * 1000:,.0f} / {here[1] * 1000:,.0f} ms, "
            f"as a new process {whole[0] * 1000:,.0f} / {whole[1] * 1000:,.0f} ms"
        )
    # The same machine, at the same moment, planning the same recipe (validate: the plan, and
    # nothing else), a yardstick that a busy machine slows down alike.
    plan = min(new_process("validate", str(recipe)) for _ in range(RUNS))
    print(f"  validate RECIPE (yardstick): {plan[0] * 1000:,.0f} / {plan[1] * 1000:,.0f} ms")
    print("  " + "\n  ".join(in_process("status", str(recipe))[2].splitlines()))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=5_000)
    return parser.parse_args()


if __name__ == "__main__":
    bench(arguments().jobs)
