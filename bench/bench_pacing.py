"""Time-scaled benchmark of pacing at real generation times (every time divided by 10).

A real generation takes 30 to 60 s and the API allows 3 requests a second; here generations take
4 s and the emulator allows 30 requests a second, counted each of the ways a server may count:
token bucket (small burst), sliding 1-second window, fixed window per second and per minute; then
a cap of 60 requests at once answered with 429. 600 jobs, only `--rpm 1800` given, never
`--concurrency`. Reports wall / ideal, the share of API requests answered 429 and the most
generations in flight at once.

Ideal: N / rate + latency = 24 s for the rate models; N x latency / 60 + latency = 44 s for the cap.

Usage: python bench/bench_pacing.py [--jobs 600] [--only token-bucket,sliding-1s,...] [--rpm 1800]
(`--rpm 3600`: a target twice the server's limit, which must not be taken for a concurrency cap.)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_run import CREDITS, SOURCES, emulator, emulator_stats, make_plan, run_ours, warm_up

from runner.emulator.config import EmulatorConfig

LATENCY = 4.0
RATE = 30  # requests per second the emulator allows
CAP = 60  # requests at once, for the concurrency-cap model
MODELS = ("token-bucket", "sliding-1s", "fixed-1s", "fixed-60s", "cap-60")


def config_for(model: str) -> EmulatorConfig:
    common = {"latency": LATENCY, "cache_results": True, "credit_limit": CREDITS}
    if model == "cap-60":
        return EmulatorConfig(max_in_flight=CAP, **common)  # type: ignore[arg-type]
    burst = 3.0 if model == "token-bucket" else None
    return EmulatorConfig(
        rpm_limit=RATE * 60,
        limit_model=model,
        rpm_burst=burst,
        **common,  # type: ignore[arg-type]
    )


def bench_model(model: str, jobs: int, rpm: float) -> None:
    ideal = jobs * LATENCY / CAP + LATENCY if model == "cap-60" else jobs / RATE + LATENCY
    with emulator(config_for(model)) as emu, tempfile.TemporaryDirectory() as tmp:
        warm_up(emu.base_url, "png")
        plan = make_plan(Path(tmp), jobs, "png")
        if model == "fixed-60s":
            time.sleep(60 - time.monotonic() % 60)  # start in a fresh minute, as a run would
        else:
            time.sleep(2)  # let the limit forget the warm-up
        before = emulator_stats(emu.base_url)
        measured = run_ours(plan, emu.base_url, concurrency=None, rpm=rpm)
        after = emulator_stats(emu.base_url)
    refused = after["api_429"] - before["api_429"]
    requests = after["api_requests"] - before["api_requests"]
    print(
        f"    {model:12} wall {measured.wall_s:6.2f} s / ideal {ideal:.0f} s ="
        f" {measured.wall_s / ideal:.3f}; 429: {refused} of {requests}"
        f" ({refused / max(1, requests):.1%}); most in flight: {after['max_in_flight']};"
        f" runner CPU {measured.cpu_s:.1f} s"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=600)
    parser.add_argument("--only", default=",".join(MODELS))
    parser.add_argument("--rpm", type=float, default=RATE * 60, help="the run's --rpm")
    args = parser.parse_args(argv)
    print(
        f"pacing benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]};"
        f" {args.jobs} jobs at {LATENCY:g} s, --rpm {args.rpm:g} only"
        f" ({SOURCES} uploads + {args.jobs} generations per run)"
    )
    for model in args.only.split(","):
        bench_model(model, args.jobs, args.rpm)


if __name__ == "__main__":
    main()
