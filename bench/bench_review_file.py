"""Benchmark: reading a large review.yaml as backdrop writes it (runner/review/written.py).

Writes, in a temporary folder, the review of a campaign of N jobs at n = 10 (default 10,000, the
default job cap), each approved with ten sha256 and one earlier, rejected take with its note and
reason, as `backdrop review` saves it; then times, in CPU seconds (the minimum of 7 runs),
`read_written` (the text to values, line by line) and `load_review` (the file read, read, checked
and made into decisions; the cache of the last file read is cleared each time).

Run: .venv/bin/python bench/bench_review_file.py [JOBS]
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.review import decisions
from runner.review.decision_model import Decision, EarlierTake, Review
from runner.review.render import render_review
from runner.review.written import read_written

RUNS = 7


def review_of(jobs: int, n: int = 10) -> Review:
    earlier = (EarlierTake(1, "rejected", 2, "too dark", "recipe changed: prompt"),)
    return Review(
        {
            f"m{i % 40:02d}-XX/SKU-{i:05d}-ceramic-mug": Decision(
                "approved",
                pick=3,
                history=earlier,
                sha256=tuple(hashlib.sha256(f"{i}-{j}".encode()).hexdigest() for j in range(n)),
            )
            for i in range(jobs)
        }
    )


def cpu(action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        start = time.process_time()
        action()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    review = review_of(jobs)
    folder = Path(tempfile.mkdtemp())
    text = render_review(review)
    (folder / decisions.REVIEW_NAME).write_text(text, encoding="utf-8")

    def load() -> None:
        decisions._LAST_SEEN.seen.clear()
        assert decisions.load_review(folder) == review

    read_s, load_s = cpu(lambda: read_written(text)), cpu(load)
    print(
        f"{jobs:,} jobs at n = 10, {len(text.encode()) / 1e6:.2f} MB: read_written {read_s:.3f} s,"
        f" load_review {load_s:.3f} s (CPU, min of {RUNS})"
    )


if __name__ == "__main__":
    main()
