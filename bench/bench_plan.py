"""Time and peak memory of planning 1k, 10k and 100k jobs (data generated in a temp folder).

Loading (YAML + schema) and planning are timed separately; the peak is tracemalloc's for
planning, and maxrss is the whole process so far (it only grows).

Small plans (most commands plan tens of jobs: there the fixed costs of a plan count) are timed
with --small N: the same 100-job recipe loaded and planned N times in one process, CPU
milliseconds per plan (best of five rounds).

Run: .venv/bin/python bench/bench_plan.py [--sizes 1000,10000,100000] [--small 200]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import struct
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path

from runner.plan.planner import plan_recipe
from runner.recipe.build import load_recipe

SEASONS = ("spring", "summer", "autumn", "winter")
MARKETS = 25  # rows in the generated CSV


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x80\x40\x20" * 4 for _ in range(4))
    idat = chunk(b"IDAT", zlib.compress(raw))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b"")


def write_recipe(folder: Path, jobs: int) -> Path:
    """A recipe with products x 4 seasons x 25 CSV markets = `jobs` jobs, one shared image."""
    products = max(1, jobs // (len(SEASONS) * MARKETS))
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "images" / "product.png").write_bytes(tiny_png())
    (folder / "data").mkdir(exist_ok=True)
    rows = ["code,setting"] + [f"m{i:02d}-XX,setting number {i}" for i in range(MARKETS)]
    (folder / "data" / "markets.csv").write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    lines = [
        "version: 1",
        f"name: bench-{jobs}",
        "defaults: { size: 1536x1024, quality: medium, n: 1, output_format: webp, "
        "output_compression: 85 }",
        "vars: { brand: Acme Home }",
        "matrix:",
        "  product:",
        *(
            f"    - {{ sku: SKU-{i:05d}, name: product {i}, image: images/product.png }}"
            for i in range(products)
        ),
        f"  season: [{', '.join(SEASONS)}]",
        "  market: { csv: data/markets.csv }",
        "  exclude:",
        "    - { season: winter, market: { code: m00-XX } }",
        "  include:",
        "    - { product: { sku: SKU-00000 }, season: spring, quality: high }",
        'image: "{{ product.image }}"',
        "prompt: |",
        "  {{ product.name }} on {{ market.setting }} in {{ season }},",
        "  soft natural light, photorealistic, {{ brand }} colour palette",
        'output: "{{ market.code }}/{{ product.sku | slug }}-{{ season }}"',
    ]
    path = folder / "recipe.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def measure(jobs: int) -> tuple[int, float, float, float, float]:
    """(jobs, seconds to load, seconds to plan, CPU seconds to plan, peak MiB while planning)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_recipe(Path(tmp), jobs)
        started = time.perf_counter()
        recipe = load_recipe(path)
        loaded = time.perf_counter()
        cpu = time.process_time()
        plan = plan_recipe(recipe, max_jobs=10 * jobs)
        planned = time.perf_counter()
        cpu = time.process_time() - cpu
        del plan
        gc.collect()
        # A second run under tracemalloc for the peak (tracemalloc slows the run down a lot).
        tracemalloc.start()
        plan = plan_recipe(recipe, max_jobs=10 * jobs)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return len(plan.jobs), loaded - started, planned - loaded, cpu, peak / (1024 * 1024)


def measure_small(times: int) -> tuple[int, float, float]:
    """(jobs, CPU ms to load, CPU ms to plan) the 100-job recipe, best of 5 rounds of `times`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = write_recipe(Path(tmp), 100)
        recipe = load_recipe(path)
        jobs = len(plan_recipe(recipe).jobs)  # imports, and the code renderers share
        load_ms, plan_ms = [], []
        for _ in range(5):
            cpu = time.process_time()
            for _ in range(times):
                load_recipe(path)
            load_ms.append((time.process_time() - cpu) * 1000 / times)
            cpu = time.process_time()
            for _ in range(times):
                plan_recipe(recipe)
            plan_ms.append((time.process_time() - cpu) * 1000 / times)
        return jobs, min(load_ms), min(plan_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--small", type=int, default=0, metavar="N")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",") if size]
    print(f"planning benchmark - python {sys.version.split()[0]}, {os.cpu_count()} cores")
    if args.small:
        jobs, load_ms, plan_ms = measure_small(args.small)
        times = f"{jobs} jobs, {args.small} times"
        print(f"{times}: load {load_ms:.2f} ms, plan {plan_ms:.2f} ms (CPU)")
    if not sizes:
        return
    header = ("target", "jobs", "load s", "plan s", "plan cpu s", "peak MiB", "maxrss MiB")
    print("{:>8} {:>8} {:>7} {:>7} {:>10} {:>9} {:>11}".format(*header))
    for size in sizes:
        planned, load_s, plan_s, cpu_s, peak = measure(size)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{size:>8,} {planned:>8,} {load_s:>7.2f} {plan_s:>7.2f} {cpu_s:>10.2f} "
            f"{peak:>9.1f} {rss:>11.1f}"
        )


if __name__ == "__main__":
    main()
