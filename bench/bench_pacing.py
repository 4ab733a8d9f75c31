"""Pacing at real generation times (every time divided by 10), whole process against an anchor.

A real generation takes 30 to 60 s and the API allows 3 requests a second; here generations take
4 s, uploads and downloads 20 ms, and the emulator allows 30 requests a second, counted each of
the ways a server may count (token bucket with a burst of 3, sliding 1-second window, fixed
window per second; `fixed-60s` on request), or caps requests at 60 at once, its 429s answered at
once, only after a generation's latency (`cap-60-late`: refused on arrival, answered late), or
after a request has queued a generation's latency for a place in vain (`cap-60-queued`: served if
one frees in time). `sliding-10rps`: 150 jobs at 1 s
against 10 requests a second. Backdrop gets only `--rpm` (the server's rate; 1800 for the caps),
never `--concurrency`.

Both programs run as their own processes and are timed whole, start-up and uploads included:
`backdrop run` on a recipe, and the anchor (anchor_loop.py), a hand-written loop that is told the
server's limit: it sends on an absolute schedule at the server's rate, or keeps as many in flight
as the cap. Each case has its own emulator, reset before each program (a fresh limiter); the two
programs alternate, for `--passes` passes. Reported: backdrop / anchor wall time, the share of
backdrop's API requests answered 429, the most generations the emulator saw at once, and the
load average before each program.

Usage: python bench/bench_pacing.py [--passes 3] [--only token-bucket,cap-60-queued,...]
           [--rpm-factor 2] [--against REV] [--quick]
`--against main` also runs `backdrop` as of that git revision (its `runner/`, from `git archive`),
in turn with this tree's and the anchor, against the same emulator: before and after, measured
one right after the other.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bench_run import API_KEY, CREDITS, SOURCES, emulator, emulator_stats

from runner.emulator.config import EmulatorConfig

TRANSFER_LATENCY = 0.02  # uploads and downloads
ANCHOR = Path(__file__).with_name("anchor_loop.py")
ANCHOR_LABEL = "anchor"


@dataclass(frozen=True)
class Case:
    name: str
    jobs: int
    latency: float
    rpm: int  # backdrop's --rpm: the server's rate, or 1800 against a cap
    rate: float | None = None  # the server's requests per second
    limit_model: str = "token-bucket"
    burst: float | None = None
    cap: int | None = None
    refusal_delay: float = 0.0
    queue_timeout: float | None = None

    def config(self) -> EmulatorConfig:
        return EmulatorConfig(
            latency=self.latency,
            transfer_latency=TRANSFER_LATENCY,
            rpm_limit=None if self.rate is None else round(self.rate * 60),
            limit_model=self.limit_model,
            rpm_burst=self.burst,
            max_in_flight=self.cap,
            refusal_delay=self.refusal_delay,
            queue_timeout=self.queue_timeout,
            cache_results=True,
            credit_limit=CREDITS,
        )

    @property
    def ideal(self) -> float:
        """Generations only: N / rate + latency, or N x latency / cap + latency."""
        if self.cap is not None:
            return self.jobs * self.latency / self.cap + self.latency
        assert self.rate is not None
        return self.jobs / self.rate + self.latency

    def anchor_args(self) -> list[str]:
        if self.cap is not None:
            return ["--concurrency", str(self.cap)]
        return ["--rate", str(self.rate)]


CASES = {
    case.name: case
    for case in (
        Case("token-bucket", 600, 4.0, 1800, rate=30, burst=3.0),
        Case("sliding-1s", 600, 4.0, 1800, rate=30, limit_model="sliding-1s"),
        Case("fixed-1s", 600, 4.0, 1800, rate=30, limit_model="fixed-1s"),
        Case("fixed-60s", 600, 4.0, 1800, rate=30, limit_model="fixed-60s"),
        Case("cap-60", 600, 4.0, 1800, cap=60),
        Case("cap-60-late", 600, 4.0, 1800, cap=60, refusal_delay=4.0),
        Case("cap-60-queued", 600, 4.0, 1800, cap=60, queue_timeout=4.0),
        Case("sliding-10rps", 150, 1.0, 600, rate=10, limit_model="sliding-1s"),
    )
}
DEFAULT = (
    "token-bucket",
    "sliding-1s",
    "fixed-1s",
    "cap-60",
    "cap-60-late",
    "cap-60-queued",
    "sliding-10rps",
)


@dataclass
class Figures:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    most: list[int] = field(default_factory=list)
    load: list[float] = field(default_factory=list)


def write_recipe(root: Path, jobs: int) -> Path:
    """The sources (images/product-K.png) and a recipe of `jobs` jobs, as the anchor reads them."""
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    for k in range(SOURCES):
        shot = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        shot.paste((40 + 25 * k, 90, 200 - 20 * k, 255), (16, 16, 48, 48))
        buffer = io.BytesIO()
        shot.save(buffer, "PNG")
        (root / "images" / f"product-{k}.png").write_bytes(buffer.getvalue())
    scenes = ", ".join(str(i) for i in range(jobs))
    recipe = root / "bench.yaml"
    recipe.write_text(
        "version: 1\nname: bench\n"
        "defaults: {size: 1024x1024, quality: low, n: 1, output_format: png,"
        " output_compression: 80}\n"
        f"matrix:\n  scene: [{scenes}]\n"
        f'image: "images/product-{{{{ scene % {SOURCES} }}}}.png"\n'
        'prompt: "scene {{ scene }}"\n'
        'output: "scene-{{ scene }}"\n',
        encoding="utf-8",
    )
    return recipe


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one whole process (run from a neutral folder, so that the source
    tree of the current folder does not shadow the `runner` chosen by PYTHONPATH)."""
    cpu, wall = children_cpu(), time.perf_counter()
    subprocess.run(
        command, env=env, check=True, stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir()
    )
    return time.perf_counter() - wall, children_cpu() - cpu


def backdrop_env(source: Path | None) -> dict[str, str]:
    env = {**os.environ, "ONEMIN_API_KEY": API_KEY}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return env


def warm_up(base_url: str, root: Path) -> None:
    """Let the emulator render its cached result once, outside the measurement."""
    headers = {"API-KEY": API_KEY}
    with httpx.Client(timeout=60, headers=headers) as http:
        data = (root / "images" / "product-0.png").read_bytes()
        answer = http.post(f"{base_url}/api/assets", files={"asset": ("p.png", data, "image/png")})
        key = answer.raise_for_status().json()["fileContent"]["path"]
        body = {
            "type": "BACKGROUND_REPLACER",
            "model": "gpt-image-1",
            "promptObject": {"imageUrl": key, "prompt": "warm", "output_format": "png"},
        }
        record = http.post(f"{base_url}/api/features", json=body).raise_for_status().json()
        http.get(record["aiRecord"]["temporaryUrl"]).raise_for_status()


def fresh_start(base_url: str, case: Case) -> float:
    """Reset the emulator (its limiter too) and let the last program's connections go."""
    httpx.post(f"{base_url}/_emulator/reset", timeout=30).raise_for_status()
    if case.limit_model == "fixed-60s" and case.rate is not None:
        time.sleep(60 - time.monotonic() % 60)  # a fresh minute, as a run would meet
    else:
        time.sleep(1.0)
    return os.getloadavg()[0]


def measure(
    figures: Figures, base_url: str, case: Case, command: list[str], env: dict[str, str]
) -> None:
    figures.load.append(fresh_start(base_url, case))
    wall, cpu = timed(command, env)
    stats = emulator_stats(base_url)
    figures.wall.append(wall)
    figures.cpu.append(cpu)
    figures.refused.append(stats["api_429"])
    figures.requests.append(stats["api_requests"])
    figures.most.append(stats["max_in_flight"])


@dataclass(frozen=True)
class Backdrop:
    """A `backdrop` to measure: its label and the source tree it runs from (None: this one)."""

    label: str
    source: Path | None


def bench_case(
    case: Case, passes: int, rpm_factor: float, backdrops: list[Backdrop]
) -> dict[str, Figures]:
    """Each backdrop and the anchor, one after the other, `passes` times; the order rotates."""
    results = {b.label: Figures() for b in backdrops} | {ANCHOR_LABEL: Figures()}
    rpm = case.rpm * rpm_factor
    with emulator(case.config()) as emu, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        recipe = write_recipe(root, case.jobs)
        warm_up(emu.base_url, root)
        for n in range(passes):
            runs = []
            for b in backdrops:
                command = [
                    sys.executable, "-m", "runner", "run", str(recipe),
                    "-o", str(root / f"out-{b.label}-{n}"), "--yes", "--rpm", f"{rpm:g}",
                    "--api-url", emu.base_url, "--asset-url", f"{emu.base_url}/asset",
                ]  # fmt: skip
                runs.append((b.label, command, backdrop_env(b.source)))
            loop = [
                sys.executable, str(ANCHOR), "--api", emu.base_url, "--root", str(root),
                "--jobs", str(case.jobs), *case.anchor_args(),
            ]  # fmt: skip
            runs.append((ANCHOR_LABEL, loop, dict(os.environ)))
            shift = n % len(runs)
            for label, command, env in runs[shift:] + runs[:shift]:
                measure(results[label], emu.base_url, case, command, env)
            anchor = results[ANCHOR_LABEL]
            parts = [
                f"{label} {f.wall[-1]:.2f} s = {f.wall[-1] / anchor.wall[-1]:.3f}"
                f" (429: {f.refused[-1]} of {f.requests[-1]}, most in flight {f.most[-1]},"
                f" CPU {f.cpu[-1]:.1f} s, load {f.load[-1]:.1f})"
                for label, f in results.items()
                if label != ANCHOR_LABEL
            ]
            print(
                f"    {case.name} pass {n + 1}: anchor {anchor.wall[-1]:.2f} s"
                f" (429: {anchor.refused[-1]}); " + "; ".join(parts),
                flush=True,
            )
    return results


def spread(values: list[float], fmt: str) -> str:
    """The median, and the range when there are several values."""
    median = format(statistics.median(values), fmt)
    if len(values) == 1:
        return median
    return f"{median} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def table(results: dict[str, dict[str, Figures]], cases: dict[str, Case]) -> list[str]:
    lines = [
        "| case | backdrop | wall s | anchor s | backdrop / anchor | 429 share | most in flight"
        " | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in results.items():
        anchor = figures[ANCHOR_LABEL]
        for label, ours in figures.items():
            if label == ANCHOR_LABEL:
                continue
            ratios = [o / a for o, a in zip(ours.wall, anchor.wall, strict=True)]
            shares = [100 * r / max(1, q) for r, q in zip(ours.refused, ours.requests, strict=True)]
            lines.append(
                f"| {name} (ideal {cases[name].ideal:.0f} s) | {label}"
                f" | {spread(ours.wall, '.1f')} | {spread(anchor.wall, '.1f')}"
                f" | **{spread(ratios, '.3f')}** | {spread(shares, '.1f')}%"
                f" | {spread([float(m) for m in ours.most], '.0f')}"
                f" | {min(ours.load):.1f}–{max(ours.load):.1f} |"
            )
    return lines


def export_source(revision: str, folder: Path) -> Path:
    """`runner` (and the schemas/ folder it linked to before it held them) as of `revision`."""
    repository = Path(__file__).resolve().parent.parent
    listed = ["git", "ls-tree", "--name-only", revision, "schemas"]
    linked = subprocess.run(listed, cwd=repository, capture_output=True, check=True).stdout
    archive = subprocess.run(
        ["git", "archive", revision, "runner", *(["schemas"] if linked.strip() else [])],
        cwd=repository,
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def runner_location(source: Path | None) -> str:
    return subprocess.run(
        [sys.executable, "-c", "import runner; print(runner.__file__)"],
        env=backdrop_env(source),
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--only", default=",".join(DEFAULT), help=f"of {', '.join(CASES)}")
    parser.add_argument(
        "--rpm-factor", type=float, default=1.0, help="backdrop's --rpm times this (2: over)"
    )
    parser.add_argument(
        "--against", metavar="REV", help="also measure backdrop as of this git revision"
    )
    parser.add_argument("--quick", action="store_true", help="a tenth of the jobs (smoke test)")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    cases = {
        name: dataclasses.replace(CASES[name], jobs=max(SOURCES, CASES[name].jobs // 10))
        if args.quick
        else CASES[name]
        for name in names
    }
    with tempfile.TemporaryDirectory() as before:
        backdrops = [Backdrop("this tree", None)]
        if args.against:
            backdrops.insert(0, Backdrop(args.against, export_source(args.against, Path(before))))
        where = "; ".join(f"{b.label}: {runner_location(b.source)}" for b in backdrops)
        print(
            f"pacing benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]};"
            f" {where}; --rpm x {args.rpm_factor:g}; {args.passes} passes;"
            f" uploads and downloads {TRANSFER_LATENCY * 1000:.0f} ms",
            flush=True,
        )
        results = {
            name: bench_case(case, args.passes, args.rpm_factor, backdrops)
            for name, case in cases.items()
        }
    print("\n".join(table(results, cases)))


if __name__ == "__main__":
    main()
