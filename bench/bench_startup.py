"""The start-up of `backdrop`: CPU of a new `python -m runner` process per command, best of N.

Every command a user types, and every `backdrop` step of a workflow, pays Python's start-up and
the imports before any work. This times short commands on the example recipe, and a `run` that
stops at its missing key once its code is imported, each a new process (its user + sys CPU from
`wait4`, which a busy machine disturbs far less than wall time), and a bare `python -c pass` as
the floor no import work can go under. The package is compiled first (as `pip install` leaves
it): without bytecode, compiling runner/ would be most of the time.

Usage: python bench/bench_startup.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = "recipes/spring-campaign.yaml"  # a CSV axis (data/markets.csv) and two images
NO_CSV = """\
version: 1
name: no-csv
defaults: {size: 1024x1024, quality: low, output_format: png}
matrix:
  season: [a, b, c]
image: mug.png
prompt: "a mug in season {{ season }}"
output: "{{ season }}/mug"
"""


def commands(folder: Path) -> dict[str, list[str]]:
    """The commands timed; `folder` holds a recipe whose axes are all inline."""
    no_csv = folder / "no-csv.yaml"
    no_csv.write_text(NO_CSV, encoding="utf-8")
    shutil.copy(ROOT / "recipes" / "images" / "mug.png", folder / "mug.png")
    return {
        "python -c pass (the floor)": ["-c", "pass"],
        "backdrop --version": ["-m", "runner", "--version"],
        "backdrop --help": ["-m", "runner", "--help"],
        "backdrop validate RECIPE": ["-m", "runner", "validate", RECIPE],
        "backdrop validate (no CSV axis)": ["-m", "runner", "validate", str(no_csv)],
        "backdrop plan RECIPE": ["-m", "runner", "plan", RECIPE],
        "backdrop run (no key: its imports, then exit 2)": ["-m", "runner", "run", str(no_csv)],
    }


def cpu_of(args: list[str]) -> float:
    """User + sys CPU seconds of one new process running `python ARGS` in the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONEMIN_", "GITHUB_"))}
    child = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != (2 if args[2:3] == ["run"] else 0):  # run: no key on purpose
        raise SystemExit(f"{args} exited {child.returncode}")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    rounds = parser.parse_args().rounds
    subprocess.run([sys.executable, "-m", "compileall", "-q", "runner"], cwd=ROOT, check=True)
    cpu_of(["-m", "runner", "--version"])  # warm the file cache
    with tempfile.TemporaryDirectory() as folder:
        timed = commands(Path(folder))
        times: dict[str, list[float]] = {name: [] for name in timed}
        for _ in range(rounds):  # interleaved, so that a busy minute slows every command alike
            for name, args in timed.items():
                times[name].append(cpu_of(args))
    print(f"| command (best of {rounds}, new process) | CPU ms best | CPU ms median |")
    print("|---|---:|---:|")
    for name, values in times.items():
        values.sort()
        print(f"| {name} | {values[0] * 1000:.0f} | {values[len(values) // 2] * 1000:.0f} |")


if __name__ == "__main__":
    main()
