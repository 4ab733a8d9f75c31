"""Benchmark: the largest backdrop.lock a legitimate campaign writes, read by every command.

Builds, in a temporary folder, a recipe of 10,000 jobs (40 markets x 250 products) at `n: 10`,
and the folder a fresh clone of its finished campaign has: `backdrop.lock` as backdrop writes it
(100,000 outputs with their request fingerprints, and a `generations` section of 4 generations
per job: the first take and three retakes or forces), the images on disk (a distinct 4x4 PNG
each, so that the file system, not the image size, is what is measured) and no `.backdrop/`.

Then, each as `python -m runner` in its own process under a 2 GiB address-space limit: `plan
--diff` (what CI runs on every pull request), `verify`, `plan` (which previews the budget from
every lock of the campaign) and `status`; and, in this process, the lock read alone
(`read_lock`, parsed and checked) and a hostile lock of the same size (every entry wrong, so
that each one is looked at by the checks that word mistakes). Prints the wall time, the CPU
time and peak RSS (wait4) and the exit code of each.

Run: .venv/bin/python bench/bench_largest_lock.py [--jobs 10000] [--n 10] [--generations 4]
     [--no-images] [--only NAME]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_status import png
from limited_child import run_limited

from runner.plan.fingerprints import request_fingerprints
from runner.records.lockfile import LOCK_NAME, LockEntry, LockFile, render_lock
from runner.records.run_records import GenerationRecord

MARKETS = 40


def recipe_text(jobs: int, n: int) -> tuple[str, int]:
    products = max(1, jobs // MARKETS)
    return (
        f"""\
version: 1
name: largest
budget: 100000
defaults: {{ size: 1024x1024, quality: medium, n: {n}, output_format: png }}
matrix:
  market: {{ csv: markets.csv }}
  product: {{ csv: products.csv }}
image: mug.png
prompt: "{{{{ product.name }}}} on a kitchen table, {{{{ market.mood }}}} light"
output: "{{{{ market.code }}}}/{{{{ product.sku }}}}-{{{{ product.name }}}}"
max_jobs: {max(jobs, 10_000)}
""",
        products,
    )


def make_project(root: Path, jobs: int, n: int, generations: int, images: bool) -> Path:
    """The recipe and its output folder as a fresh clone has it; returns the lock's path."""
    from runner.commands.common import load_plan

    (root / ".git").mkdir(parents=True)
    (root / "mug.png").write_bytes(png(0))
    text, products = recipe_text(jobs, n)
    (root / "recipe.yaml").write_text(text)
    (root / "markets.csv").write_text(
        "code,mood\n" + "".join(f"m{i:02d}-XX,warm morning\n" for i in range(MARKETS))
    )
    (root / "products.csv").write_text(
        "sku,name\n" + "".join(f"SKU-{i:05d},ceramic-mug\n" for i in range(products))
    )
    plan = load_plan(str(root / "recipe.yaml"), show_warnings=False)
    out = plan.output_dir
    entries: list[LockEntry] = []
    records: list[GenerationRecord] = []
    runs = [f"2026120{day}T101500Z-{day:06x}" for day in range(1, generations + 1)]
    seed = 0
    for job in plan.jobs:
        po = job.prompt_object
        prints = request_fingerprints(po.to_json(), f"{job.image.kind}:{job.image.ref}", job.take)
        for output in job.outputs:
            seed += 1
            data = png(seed)
            if images:
                target = out / output
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            entries.append(LockEntry(output, job.key, hashlib.sha256(data).hexdigest(), prints))
        for run in runs:
            records.append(
                GenerationRecord(str(uuid.uuid4()), job.key, run, po.n, po.quality, po.size)
            )
    lock = LockFile(plan.recipe_name, tuple(sorted(entries, key=lambda e: e.path)), tuple(records))
    out.mkdir(parents=True, exist_ok=True)
    (out / LOCK_NAME).write_text(render_lock(lock), encoding="utf-8")
    return out / LOCK_NAME


def hostile_copy(lock: Path, target: Path) -> None:
    """The same lock with every output's sha256 cut short: each entry has a mistake to word."""
    text = lock.read_text(encoding="utf-8").replace('"sha256": "', '"sha256": "x')
    target.write_text(text, encoding="utf-8")


READ_ONLY = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from runner.records.lock_reader import read_lock\n"
    "from runner.records.lockfile import LockFileProblem\n"
    "try:\n"
    "    lock = read_lock(Path(sys.argv[1]))\n"
    "    print(len(lock.entries), len(lock.generations))\n"
    "except LockFileProblem as error:\n"
    "    print(len(error.diagnostics()))\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--generations", type=int, default=4, help="per job")
    parser.add_argument("--no-images", action="store_true")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--only", help="run only the cases whose name contains this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        lock = make_project(root, args.jobs, args.n, args.generations, not args.no_images)
        size = lock.stat().st_size
        print(
            f"{args.jobs:,} jobs at n = {args.n}, {args.generations} generations each: "
            f"backdrop.lock of {size / 1e6:.1f} MB ({size / 2**20:.1f} MiB), built in "
            f"{time.perf_counter() - started:.0f} s"
        )
        out = lock.parent.relative_to(root)
        hostile = root / "hostile"
        hostile.mkdir()
        hostile_copy(lock, hostile / LOCK_NAME)
        python = [sys.executable]
        cases = {
            "read_lock alone": [*python, "-c", READ_ONLY, str(out)],
            "read_lock alone, every entry wrong": [*python, "-c", READ_ONLY, "hostile"],
            "plan --diff": [*python, "-m", "runner", "plan", "recipe.yaml", "--diff"],
            "verify": [*python, "-m", "runner", "verify", str(out)],
            "plan (budget from the locks)": [*python, "-m", "runner", "plan", "recipe.yaml"],
            "status": [*python, "-m", "runner", "status", "recipe.yaml"],
        }
        print("| case | wall s | CPU s | peak RSS MiB | outcome |")
        print("|---|---:|---:|---:|---|")
        for name, argv in cases.items():
            if args.only and args.only not in name:
                continue
            wall, cpu, rss, outcome = run_limited(argv, args.timeout, cwd=root)
            print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {outcome} |", flush=True)


if __name__ == "__main__":
    main()
