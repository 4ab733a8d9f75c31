"""Fuzz `validate` and `plan` with mutated recipes and CSV files, timing every case.

Uses the same seeds, tokens, mutations and outcome classification as the fuzz test
(tests/fuzz_support.py), one case per seed (draw_case), so that it can run any number of
cases and report them all instead of stopping at the first. Prints the outcome counts, the
slowest case, the peak RSS and every distinct internal error with a reproducing recipe.

--family locks|states|reviews fuzzes the readers of a file a pull request controls instead,
with files generated from its format (tests/fuzz_files.py); the seed reproduces the case.

    python bench/bench_fuzz.py [CASES] [FIRST_SEED] [--family recipes|locks|states|reviews]
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzz_support import draw_case, make_project, run_case


def main() -> None:
    args = sys.argv[1:]
    family = "recipes"
    if "--family" in args:
        at = args.index("--family")
        family = args[at + 1]
        del args[at : at + 2]
    cases = int(args[0]) if args else 5_000
    first = int(args[1]) if len(args) > 1 else 0
    if family != "recipes":
        fuzz_files(family, cases, first)
        return
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


if __name__ == "__main__":
    main()
