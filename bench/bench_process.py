"""The whole `backdrop run` process against a minimal hand-written asyncio + httpx loop.

(e) 640 jobs from a recipe, generations at 500 ms, uploads and downloads at 20 ms, concurrency
32, rate limit out of the way: the `backdrop run` command (start-up, planning, the run, the
reports, all of it) against the anchor loop (anchor_loop.py, 32 workers), each its own process,
timed whole, on the same recipe and emulator, alternating. Reports both walls and their ratio
(target <= 1.10), and the CPU of each.

Usage: python bench/bench_process.py [--jobs 640] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench_pacing import ANCHOR, TRANSFER_LATENCY, backdrop_env, timed, warm_up, write_recipe
from bench_run import CREDITS, emulator

from runner.emulator.config import EmulatorConfig

LATENCY = 0.5
CONCURRENCY = 32


def run_command(recipe: Path, out: Path, base_url: str) -> tuple[float, float]:
    command = [
        sys.executable, "-m", "runner", "run", str(recipe), "-o", str(out), "--yes",
        "--concurrency", str(CONCURRENCY), "--rpm", "1000000",
        "--api-url", base_url, "--asset-url", f"{base_url}/asset",
    ]  # fmt: skip
    return timed(command, backdrop_env(None))


def run_loop(root: Path, jobs: int, base_url: str) -> tuple[float, float]:
    command = [
        sys.executable, str(ANCHOR), "--api", base_url, "--root", str(root),
        "--jobs", str(jobs), "--concurrency", str(CONCURRENCY),
    ]  # fmt: skip
    return timed(command, dict(os.environ))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    ideal = args.jobs * LATENCY / CONCURRENCY
    print(
        f"(e) whole process: {os.cpu_count()} cores; {args.jobs} jobs at {LATENCY * 1000:.0f} ms,"
        f" uploads and downloads {TRANSFER_LATENCY * 1000:.0f} ms, concurrency {CONCURRENCY};"
        f" ideal {ideal:.0f} s"
    )
    config = EmulatorConfig(
        latency=LATENCY, transfer_latency=TRANSFER_LATENCY, cache_results=True, credit_limit=CREDITS
    )
    ours: list[tuple[float, float]] = []
    loop: list[tuple[float, float]] = []
    with emulator(config) as emu, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        recipe = write_recipe(root, args.jobs)
        warm_up(emu.base_url, root)
        for round_ in range(args.rounds):
            ours.append(run_command(recipe, root / f"ours-{round_}", emu.base_url))
            loop.append(run_loop(root, args.jobs, emu.base_url))
    for name, figures in (("backdrop run", ours), ("anchor loop", loop)):
        walls = ", ".join(f"{w:.2f}" for w, _ in figures)
        cpus = ", ".join(f"{c / args.jobs * 1000:.1f}" for _, c in figures)
        print(f"    {name}: wall s {walls}; CPU ms per job {cpus}")
    best_ours, best_loop = min(w for w, _ in ours), min(w for w, _ in loop)
    print(f"    backdrop run / anchor loop = {best_ours / best_loop:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
