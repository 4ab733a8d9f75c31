"""The whole `backdrop run` process against a minimal hand-written asyncio + httpx loop.

(e) 640 jobs from a recipe, emulator latency 500 ms, concurrency 32, rate limit out of the way:
the `backdrop run` command as a subprocess (start-up, planning, the run, the reports, all of it)
against the minimal loop of bench_run.py on the same plan. Reports both walls and their ratio
(target <= 1.10), and the CPU of each.

Usage: python bench/bench_process.py [--jobs 640] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_run import API_KEY, CREDITS, _minimal_loop, cpu_seconds, emulator

from runner.emulator.config import EmulatorConfig

LATENCY = 0.5
CONCURRENCY = 32


def write_recipe(root: Path, jobs: int) -> Path:
    from PIL import Image

    shot = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    shot.paste((40, 90, 200, 255), (16, 16, 48, 48))
    buffer = io.BytesIO()
    shot.save(buffer, "PNG")
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "images" / "product.png").write_bytes(buffer.getvalue())
    scenes = ", ".join(str(i) for i in range(jobs))
    recipe = root / "bench.yaml"
    recipe.write_text(
        "version: 1\nname: bench\n"
        "defaults: {size: 1024x1024, quality: low, n: 1, output_format: png,"
        " output_compression: 80}\n"
        f"matrix:\n  scene: [{scenes}]\n"
        "image: images/product.png\n"
        'prompt: "scene {{ scene }}"\n'
        'output: "scene-{{ scene }}"\n',
        encoding="utf-8",
    )
    return recipe


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_command(recipe: Path, out: Path, base_url: str) -> tuple[float, float]:
    backdrop = Path(sys.executable).with_name("backdrop")
    command = [
        str(backdrop), "run", str(recipe), "-o", str(out), "--yes",
        "--concurrency", str(CONCURRENCY), "--rpm", "1000000",
        "--api-url", base_url, "--asset-url", f"{base_url}/asset",
    ]  # fmt: skip
    env = {**os.environ, "ONEMIN_API_KEY": API_KEY}
    cpu, wall = children_cpu(), time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - wall, children_cpu() - cpu


def run_loop(recipe: Path, out: Path, base_url: str) -> tuple[float, float]:
    import dataclasses

    from runner.plan.planner import plan_recipe
    from runner.recipe.build import load_recipe

    plan = dataclasses.replace(plan_recipe(load_recipe(recipe)), output_dir=out)
    cpu, wall = cpu_seconds(), time.perf_counter()
    asyncio.run(_minimal_loop(plan, base_url, CONCURRENCY))
    return time.perf_counter() - wall, cpu_seconds() - cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    ideal = args.jobs * LATENCY / CONCURRENCY
    print(
        f"(e) whole process: {os.cpu_count()} cores; {args.jobs} jobs at {LATENCY * 1000:.0f} ms,"
        f" concurrency {CONCURRENCY}; ideal {ideal:.0f} s"
    )
    config = EmulatorConfig(latency=LATENCY, cache_results=True, credit_limit=CREDITS)
    ours: list[tuple[float, float]] = []
    loop: list[tuple[float, float]] = []
    with emulator(config) as emu, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        recipe = write_recipe(root, args.jobs)
        for round_ in range(args.rounds):
            ours.append(run_command(recipe, root / f"ours-{round_}", emu.base_url))
            loop.append(run_loop(recipe, root / f"loop-{round_}", emu.base_url))
    for name, figures in (("backdrop run", ours), ("minimal loop", loop)):
        walls = ", ".join(f"{w:.2f}" for w, _ in figures)
        cpus = ", ".join(f"{c / args.jobs * 1000:.1f}" for _, c in figures)
        print(f"    {name}: wall s {walls}; CPU ms per job {cpus}")
    best_ours, best_loop = min(w for w, _ in ours), min(w for w, _ in loop)
    print(f"    backdrop run / minimal loop = {best_ours / best_loop:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
