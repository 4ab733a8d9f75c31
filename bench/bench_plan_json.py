"""Wall time and peak memory of `backdrop plan RECIPE --json` for 100,000 jobs, whole process.

The process runs under /usr/bin/time (maxrss covers Python, the recipe, the plan and the
output); stdout goes to a file, whose size is reported. Target (issue 8): under 5 s and 300 MB.

Run: .venv/bin/python bench/bench_plan_json.py [--jobs 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_plan import write_recipe


def measure(recipe: Path, jobs: int, out: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds (user + sys), maxrss MiB) of one `plan --json` process."""
    args = ["/usr/bin/time", "-v", sys.executable, "-m", "runner", "plan", str(recipe), "--json"]
    args += ["--max-jobs", str(2 * jobs)]
    started = time.perf_counter()
    with out.open("wb") as sink:
        done = subprocess.run(args, stdout=sink, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"plan --json failed: {done.stderr[-2000:]}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", done.stderr)
    system = re.search(r"System time \(seconds\): ([\d.]+)", done.stderr)
    assert found and user and system, done.stderr
    return wall, float(user.group(1)) + float(system.group(1)), int(found.group(1)) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    print(f"plan --json benchmark - python {sys.version.split()[0]}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        recipe = write_recipe(Path(tmp), options.jobs)
        out = Path(tmp) / "plan.json"
        for run in range(1, options.runs + 1):
            wall, cpu, rss = measure(recipe, options.jobs, out)
            size = out.stat().st_size / 1e6
            print(
                f"run {run}: {wall:.2f} s wall, {cpu:.2f} s CPU, {rss:.0f} MiB maxrss, "
                f"{size:.1f} MB of JSON"
            )


if __name__ == "__main__":
    main()
