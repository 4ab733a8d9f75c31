"""The pacing controller against each kind of limit on a fake clock: no CPU contention, no noise.

The discrete-event simulation of the tests (tests/pacing_sim.py): 600 jobs at 4 s, a target of
30 requests a second (`--rpm 1800`), against rate limits counted four ways, concurrency caps,
and a cap that queues requests and refuses them after a while (4 s; 4.01 s; 4.05 s; 4 s with
generations of 3.8 to 4.2 s); each with 429s answered at once (20 ms) or only after a
generation's time (4 s, or 3 to 5 s: out of order); and some with generations that vary as real
ones do (3 to 5 s, 4 to 8 s), which a controller reading response times must not take for a
queue. Prints wall / ideal
and the share of requests answered 429 per case, for this tree and, with `--against REV`, for
that git revision.

Usage: python bench/bench_pacing_sim.py [--against main]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.append(str(REPOSITORY))  # after PYTHONPATH: `runner` may come from another revision

from tests.pacing_sim import (  # noqa: E402
    ConcurrencyCap,
    FixedWindow,
    Limit,
    QueuedCap,
    SlidingWindow,
    TokenBucket,
    simulate,
)

JOBS, LATENCY, RATE = 600, 4.0, 30
LATE = LATENCY  # seconds before a late 429 comes back
RATE_IDEAL = JOBS / RATE + LATENCY


def cap_ideal(cap: int) -> float:
    return JOBS * LATENCY / cap + LATENCY


# name: (limit, --rpm, refusal latency, ideal wall)
Case = tuple[Callable[[], Limit], float, float | tuple[float, float], float]
CASES: dict[str, Case] = {}
for late, suffix in ((0.02, ""), (LATE, ", 429s after 4 s")):
    CASES |= {
        f"sliding 1-s window{suffix}": (lambda: SlidingWindow(RATE), 1800, late, RATE_IDEAL),
        f"fixed 1-s window{suffix}": (lambda: FixedWindow(RATE, 1.0), 1800, late, RATE_IDEAL),
        f"token bucket{suffix}": (lambda: TokenBucket(RATE, 3), 1800, late, RATE_IDEAL),
        f"sliding 1-s, --rpm 2160{suffix}": (lambda: SlidingWindow(RATE), 2160, late, RATE_IDEAL),
        f"token bucket, --rpm 3600{suffix}": (
            lambda: TokenBucket(RATE, 3),
            3600,
            late,
            RATE_IDEAL,
        ),
        f"cap of 30{suffix}": (lambda: ConcurrencyCap(30), 1800, late, cap_ideal(30)),
        f"cap of 60{suffix}": (lambda: ConcurrencyCap(60), 1800, late, cap_ideal(60)),
        f"cap of 100{suffix}": (lambda: ConcurrencyCap(100), 1800, late, cap_ideal(100)),
    }
CASES["cap of 60 queueing, refused after 4 s"] = (
    lambda: QueuedCap(60, LATE),
    1800,
    0.02,
    cap_ideal(60),
)
# The same queue a hair off the tie above (on this clock a wait of exactly 4 s ends as the place
# frees, and the tie goes to the refusal), and with generations that vary, as real ones do.
CASES["cap of 60 queueing, refused after 4.05 s"] = (
    lambda: QueuedCap(60, LATE + 0.05),
    1800,
    0.02,
    cap_ideal(60),
)
CASES["cap of 60 queueing, refused after 4 s, generations 3.8-4.2 s"] = (
    lambda: QueuedCap(60, LATE),
    1800,
    0.02,
    cap_ideal(60),
)
# 429s that come back in their own time (out of order): 3 to 5 s
CASES["cap of 60, 429s after 3-5 s"] = (lambda: ConcurrencyCap(60), 1800, (3.0, 5.0), cap_ideal(60))
CASES["sliding 1-s window, 429s after 3-5 s"] = (
    lambda: SlidingWindow(RATE),
    1800,
    (3.0, 5.0),
    RATE_IDEAL,
)
CASES["cap of 60 queueing, refused after 4.01 s"] = (
    lambda: QueuedCap(60, LATE + 0.01),
    1800,
    0.02,
    cap_ideal(60),
)
# Generation latency per case, when not LATENCY.
LATENCIES: dict[str, float | tuple[float, float]] = {
    "cap of 60 queueing, refused after 4 s, generations 3.8-4.2 s": (3.8, 4.2),
}
# Generations that vary as real ones do (30 to 60 s: 2x): a controller that reads response
# times must not take this spread for a queue. Ideal: the mean generation per job, plus the
# longest one for the last.
for low, high in ((3.0, 5.0), (4.0, 8.0)):
    mean, spread = (low + high) / 2, f", generations {low:g}-{high:g} s"
    rate_ideal = JOBS / RATE + high
    CASES |= {
        f"token bucket{spread}": (lambda: TokenBucket(RATE, 3), 1800, 0.02, rate_ideal),
        f"sliding 1-s window{spread}": (lambda: SlidingWindow(RATE), 1800, 0.02, rate_ideal),
        f"sliding 1-s window{spread}, 429s after 4 s": (
            lambda: SlidingWindow(RATE),
            1800,
            LATE,
            rate_ideal,
        ),
        f"cap of 60{spread}": (lambda: ConcurrencyCap(60), 1800, 0.02, JOBS * mean / 60 + high),
        f"cap of 60{spread}, 429s after 4 s": (
            lambda: ConcurrencyCap(60),
            1800,
            LATE,
            JOBS * mean / 60 + high,
        ),
        f"cap of 60 queueing, refused after {high:g} s{spread}": (
            partial(QueuedCap, 60, high),
            1800,
            0.02,
            JOBS * mean / 60 + high,
        ),
    }
    for name in list(CASES)[-6:]:
        LATENCIES[name] = (low, high)


def figures() -> dict[str, tuple[float, float]]:
    """Per case: wall / ideal and the 429 share."""
    results = {}
    for name, (limit, rpm, late, ideal) in CASES.items():
        latency = LATENCIES.get(name, LATENCY)
        outcome = simulate(limit(), jobs=JOBS, rpm=rpm, latency=latency, refusal_latency=late)
        results[name] = (outcome.wall / ideal, outcome.refused_share)
    return results


def figures_of(revision: str) -> dict[str, tuple[float, float]]:
    """`figures()` with the controller as of `revision` (its `runner/`, from `git archive`)."""
    from bench_pacing import export_source

    with tempfile.TemporaryDirectory() as folder:
        source = export_source(revision, Path(folder))
        answer = subprocess.run(
            [sys.executable, __file__, "--json"],
            env={**os.environ, "PYTHONPATH": str(source)},
            cwd=tempfile.gettempdir(),
            capture_output=True,
            text=True,
            check=True,
        )
    loaded: dict[str, list[float]] = json.loads(answer.stdout)
    return {name: (wall, share) for name, (wall, share) in loaded.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--against", metavar="REV", help="also simulate this git revision")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps(figures()))
        return
    columns = [("this tree", figures())]
    if args.against:
        columns.insert(0, (args.against, figures_of(args.against)))
    header = " | ".join(f"{label}: wall / ideal, 429 share" for label, _ in columns)
    print(f"| case | {header} |")
    print("|---|" + "---:|" * len(columns))
    for name in CASES:
        cells = " | ".join(f"{data[name][0]:.2f}, {data[name][1]:.1%}" for _, data in columns)
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
