"""Fuzz `validate` and `plan`, timing every case: mutated recipes, or recipes drawn from the schema.

    python bench/bench_fuzz.py [CASES] [FIRST_SEED]
    python bench/bench_fuzz.py --family locks|states|reviews [CASES] [FIRST_SEED]
    python bench/bench_fuzz.py --schema [CASES] [FIRST_SEED] [--scale F] [--keep DIR]

The first form uses the seeds, tokens, mutations and outcome classification of the mutation
fuzz test (tests/fuzz_support.py), in-process. The second draws recipes from the recipe schema
with adversarial values and sizes (tests/schema_fuzz.py; `--scale` multiplies the LARGE knobs:
jobs, loop counts, include/exclude entries, vars, nesting, text, rows) and runs each through
the real CLI in a forked child limited to 2 GiB and 60 s of CPU, measuring its wall time, CPU
time and peak memory. Both print the outcome counts, the slowest cases, the peak memory and
every distinct failure with a reproducing recipe (--keep DIR keeps their projects).

--family fuzzes the readers of a file a pull request controls instead, with files generated
from its format (tests/fuzz_files.py); the seed reproduces the case.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzz_support import draw_case, make_project, run_case


def mutation(cases: int, first: int) -> None:
    outcomes: Counter[str] = Counter()
    internal: dict[str, tuple[str, str]] = {}
    slowest = (0.0, "")
    with tempfile.TemporaryDirectory() as folder:
        recipe = make_project(Path(folder))
        start, cpu = time.perf_counter(), time.process_time()
        for seed in range(first, first + cases):
            text, csv = draw_case(seed)
            outcome = run_case(recipe, text, csv)
            outcomes[outcome.kind] += 1
            if outcome.seconds > slowest[0]:
                slowest = (outcome.seconds, text)
            if outcome.kind == "internal":
                last = outcome.detail.strip().splitlines()[-1]
                internal.setdefault(last, (text, outcome.detail))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    per_case = cpu / cases * 1000
    print(f"{cases:,} cases in {wall:.1f} s wall, {cpu:.1f} s CPU ({per_case:.1f} ms/case)")
    print("outcomes:", dict(outcomes))
    print(f"slowest case: {slowest[0]:.2f} s; peak RSS {rss:.0f} MiB")
    for last, (text, detail) in internal.items():
        print(f"\n=== internal error: {last}\n{detail}\n--- recipe.yaml ---\n{text}")


def fuzz_files(family: str, cases: int, first: int) -> None:
    """One family of files a pull request controls: outcome counts, the slowest case, the
    peak RSS and every distinct internal error with the seed that makes it again."""
    from tests.fuzz_files import FAMILIES, Bench

    if family not in FAMILIES:
        raise SystemExit(f"--family must be recipes or one of {', '.join(FAMILIES)}")
    outcomes: Counter[str] = Counter()
    internal: dict[str, tuple[int, str]] = {}
    slowest = (0.0, 0)
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(family, Path(folder))
        start, cpu = time.perf_counter(), time.process_time()
        for seed in range(first, first + cases):
            outcome = bench.run(seed)
            outcomes[outcome.kind] += 1
            slowest = max(slowest, (outcome.seconds, seed))
            if outcome.kind == "internal":
                internal.setdefault(outcome.detail.strip().splitlines()[-1], (seed, outcome.detail))
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{family}: {cases:,} cases in {wall:.1f} s wall, {cpu:.1f} s CPU")
    print("outcomes:", dict(outcomes))
    print(f"slowest case: seed {slowest[1]}, {slowest[0]:.2f} s; peak RSS {rss:.0f} MiB")
    for last, (seed, detail) in internal.items():
        print(f"\n=== internal error (seed {seed}): {last}\n{detail}")


def schema(cases: int, first: int, scale: float, keep: Path | None) -> None:
    from tests.schema_fuzz import (
        LARGE,
        draw_schema_case,
        remove_tree,
        run_forked,
        scaled,
        warm_up,
        write_case,
    )

    knobs = scaled(LARGE, scale)
    warm_up()
    results = []
    families: dict[str, float] = {}  # family -> slowest CPU seconds of a case using it
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
        for seed in range(first, first + cases):
            case = draw_schema_case(seed, knobs)
            result = run_forked(case, Path(tmp) / "case")
            results.append((result, case))
            for family in case.families or ("ordinary",):
                families[family] = max(families.get(family, 0.0), result.cpu)
            if not result.ok and keep is not None:
                write_case(case, keep / f"seed-{seed}")
                shutil.copy(Path(tmp) / "case" / "stderr.txt", keep / f"seed-{seed}" / "stderr.txt")
        if (Path(tmp) / "case").exists():
            remove_tree(Path(tmp) / "case")  # (TemporaryDirectory's rmtree would recurse)
    wall = time.perf_counter() - start
    codes = Counter(str(result.code) for result, _ in results)
    print(f"{cases:,} cases (seeds {first}-{first + cases - 1}, scale {scale:g}) in {wall:.0f} s")
    print("exit codes:", dict(codes))
    print("slowest cases (wall s / CPU s / peak MiB / command / families):")
    for result, case in sorted(results, key=lambda pair: -pair[0].cpu)[:8]:
        print(
            f"  seed {result.seed}: {result.wall:.2f} / {result.cpu:.2f} / {result.peak_mib:.0f}"
            f" / {' '.join(result.command)} / {', '.join(case.families) or 'ordinary'}"
        )
    peak = max(results, key=lambda pair: pair[0].peak_mib)[0]
    print(f"peak memory: {peak.peak_mib:.0f} MiB (seed {peak.seed})")
    most = max(results, key=lambda pair: pair[0].output_bytes)[0]
    print(f"most output: {most.output_bytes:,} bytes (seed {most.seed})")
    print("slowest CPU s by family:", {k: round(v, 2) for k, v in sorted(families.items())})
    for result, case in results:
        if not result.ok or result.cpu > 10 or result.peak_mib > 1024:
            print(
                f"\n=== seed {result.seed}: exit {result.code}, {result.cpu:.1f} s CPU, "
                f"{result.peak_mib:.0f} MiB, {case.families}\n{result.detail[-2000:]}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="?", type=int, default=5_000)
    parser.add_argument("first", nargs="?", type=int, default=0)
    parser.add_argument("--schema", action="store_true", help="draw recipes from the schema")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the LARGE knobs")
    parser.add_argument("--keep", type=Path, help="keep the projects of failing cases here")
    parser.add_argument("--family", default="recipes", help="recipes, locks, states or reviews")
    args = parser.parse_args()
    if args.family != "recipes":
        fuzz_files(args.family, args.cases, args.first)
    elif args.schema:
        schema(args.cases, args.first, args.scale, args.keep)
    else:
        mutation(args.cases, args.first)


if __name__ == "__main__":
    main()
