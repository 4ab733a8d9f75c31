"""Time and peak memory of planning 1k, 10k and 100k jobs (data generated in a temp folder).

Run: .venv/bin/python bench/bench_plan.py [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import gc
import os
import struct
import sys
import tempfile
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

from runner.plan.planner import plan_recipe
from runner.recipe.loader import load_yaml
from runner.recipe.model import (
    DEFAULT_PRICES,
    Axis,
    AxisSource,
    Recipe,
    ReportLayout,
)

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


def build_recipe(path: Path) -> Recipe:
    """The Recipe for the generated file (planning is what is measured, not loading)."""
    document = load_yaml(path.read_text(encoding="utf-8"), path.name)
    data: dict[str, Any] = document.data
    matrix = dict(data["matrix"])
    include = tuple(matrix.pop("include", ()))
    exclude = tuple(matrix.pop("exclude", ()))
    axes = []
    for name, value in matrix.items():
        if isinstance(value, dict):
            source = AxisSource("csv", path=value["csv"])
        else:
            source = AxisSource("inline", values=tuple(value))
        axes.append(Axis(name, source, ("matrix", name)))
    return Recipe(
        path=path,
        name=data["name"],
        description="",
        defaults=data["defaults"],
        vars=data["vars"],
        axes=tuple(axes),
        include=include,
        exclude=exclude,
        image=data["image"],
        prompt=data["prompt"],
        output=data["output"],
        output_dir=None,
        prices=DEFAULT_PRICES,
        report=ReportLayout(),
        source=document.source,
    )


def measure(jobs: int) -> tuple[int, float, float]:
    """(jobs planned, seconds, peak MiB traced) for one size."""
    with tempfile.TemporaryDirectory() as tmp:
        recipe = build_recipe(write_recipe(Path(tmp), jobs))
        gc.collect()
        tracemalloc.start()
        started = time.perf_counter()
        plan = plan_recipe(recipe, max_jobs=10 * jobs)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return len(plan.jobs), elapsed, peak / (1024 * 1024)


def measure_untraced(jobs: int) -> float:
    """Seconds without tracemalloc, which slows allocation-heavy code down a lot."""
    with tempfile.TemporaryDirectory() as tmp:
        recipe = build_recipe(write_recipe(Path(tmp), jobs))
        started = time.perf_counter()
        plan_recipe(recipe, max_jobs=10 * jobs)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,100000")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    print(f"planning benchmark - python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"{'target':>8} {'jobs':>8} {'seconds':>8} {'traced s':>9} {'peak MiB':>9}")
    for size in sizes:
        seconds = measure_untraced(size)
        planned, traced_seconds, peak = measure(size)
        print(f"{size:>8,} {planned:>8,} {seconds:>8.2f} {traced_seconds:>9.2f} {peak:>9.1f}")


if __name__ == "__main__":
    main()
