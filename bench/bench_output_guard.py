"""What the output guard (runner/commands/streams.py) costs: a 100,000-job plan's JSON
printed in-process through terminal.write_json_chunks, into memory, with stdout bare and with
stdout guarded.

Run: .venv/bin/python bench/bench_output_guard.py [--jobs 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from runner.commands import terminal
from runner.commands.streams import GuardedStream

PROMPT = "ceramic mug on a Parisian café terrace in spring, soft natural light, photorealistic"


def job_chunk(number: int) -> str:
    """One job of plan --json, as runner/plan/plan_json.py writes it (one line)."""
    job = {
        "index": number,
        "key": f"{number:064x}",
        "label": f"product=MUG-{number % 50:02d} season=spring market=fr-FR",
        "prompt": PROMPT,
        "outputs": [f"fr-FR/MUG-{number % 50:02d}-spring-{number}.webp"],
        "vars": {"product": {"sku": f"MUG-{number % 50:02d}"}, "season": "spring"},
    }
    return ",\n    " + json.dumps(job, ensure_ascii=False)


def measure(chunks: list[str], guarded: bool) -> float:
    sink = io.StringIO()
    saved = sys.stdout
    sys.stdout = GuardedStream(sink) if guarded else sink
    try:
        started = time.process_time()
        terminal.write_json_chunks(chunks)
        return time.process_time() - started
    finally:
        sys.stdout = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    chunks = [job_chunk(number) for number in range(options.jobs)]
    size = sum(len(chunk) for chunk in chunks) / 1e6
    print(f"output guard benchmark - python {sys.version.split()[0]}, {size:.0f} MB of JSON")
    for run in range(1, options.runs + 1):
        bare, guarded = measure(chunks, False), measure(chunks, True)
        print(f"run {run}: bare {bare:.2f} s CPU, guarded {guarded:.2f} s CPU")


if __name__ == "__main__":
    main()
