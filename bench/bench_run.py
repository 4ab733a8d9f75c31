"""Run-engine benchmark against the emulator on loopback (the emulator in its own process).

(a) overhead:   2,000 jobs, zero latency -> jobs/s and the runner's CPU ms per job
(b) efficiency: 640 jobs, 200 ms latency, concurrency 32, rate limit out of the way -> wall / 4 s
(c) baseline:   the same workload through a minimal asyncio + httpx loop -> our wall / its wall
(d) rate-bound: emulator at 10 requests/s, 150 jobs at 1 s latency, --rpm 600 -> wall / 15 s,
                and the share of API requests answered 429; once with the emulator's token
                bucket, once with a sliding 1-second window; --concurrency left automatic

Usage: python bench/bench_run.py [--quick] [--profile] [--format png|jpeg|webp] [--only abcd]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import multiprocessing
import os
import pstats
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from runner.api.limits import FORMAT_EXTENSIONS
from runner.emulator.config import EmulatorConfig
from runner.execute.run_options import RunOptions
from runner.execute.run_plan import RunResult, run_plan
from runner.plan.jobs import job_key
from runner.plan.plan_model import ImageSource, Job, Plan, PromptObject
from runner.recipe.model import DEFAULT_PRICES, ReportLayout

API_KEY = "bench-key"
SOURCES = 8  # distinct source images (so 8 uploads per run)
CREDITS = 10**12  # never the limit here


# -- the emulator, in another process so that the runner's CPU time is its own -------------------


def _serve(config: EmulatorConfig, ready: Any) -> None:
    from runner.emulator.server import serve_forever

    serve_forever(config, port=0, on_ready=ready.put)


@dataclass(frozen=True)
class Emulator:
    base_url: str
    pid: int

    def cpu_seconds(self) -> float:
        """The emulator process's CPU time so far (Linux; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def emulator(config: EmulatorConfig) -> Iterator[Emulator]:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    process = context.Process(target=_serve, args=(config, ready), daemon=True)
    process.start()
    try:
        base_url = str(ready.get(timeout=60))
        assert process.pid is not None
        yield Emulator(base_url, process.pid)
    finally:
        process.terminate()
        process.join(15)
        if process.is_alive():
            process.kill()


def emulator_stats(base_url: str) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(f"{base_url}/_emulator/stats", timeout=30).json()
    return stats


# -- the workload ------------------------------------------------------------------------------


def make_plan(root: Path, jobs: int, output_format: str) -> Plan:
    from PIL import Image

    sources = []
    for i in range(SOURCES):
        shot = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        shot.paste((40 + 25 * i, 90, 200 - 20 * i, 255), (16, 16, 48, 48))
        buffer = io.BytesIO()
        shot.save(buffer, "PNG")
        path = root / "images" / f"product-{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buffer.getvalue())
        sha = hashlib.sha256(buffer.getvalue()).hexdigest()
        sources.append(ImageSource("file", f"images/{path.name}", path, sha, "image/png"))
    ext = FORMAT_EXTENSIONS[output_format]
    planned = []
    for index in range(jobs):
        image = sources[index % SOURCES]
        po = PromptObject(f"scene {index}", "1024x1024", 1, "low", output_format, 80)
        planned.append(
            Job(
                key=job_key(image, po),
                index=index,
                vars={"product": index % SOURCES, "scene": index},
                label=f"product={index % SOURCES} scene={index}",
                image=image,
                prompt_object=po,
                outputs=(f"scene-{index // 100}/{index}.{ext}",),
            )
        )
    return Plan(
        recipe_name="bench",
        recipe_path=root / "bench.yaml",
        output_dir=root / "out",
        axes=("product", "scene"),
        jobs=tuple(planned),
        prices=DEFAULT_PRICES,
        report=ReportLayout(),
    )


def cpu_seconds() -> float:
    """This process's CPU time, all threads (the emulator runs elsewhere)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float
    result: RunResult | None = None


def run_ours(plan: Plan, base_url: str, *, concurrency: int | None, rpm: float | None) -> Measured:
    options = RunOptions(concurrency=concurrency, rpm=rpm)
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = run_plan(
        plan,
        options,
        api_key=API_KEY,
        base_url=base_url,
        asset_base_url=f"{base_url}/asset",
        handle_sigint=False,
    )
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    if result.done != len(plan.jobs):
        raise SystemExit(f"the run did not finish every job: {result}")
    return Measured(wall, cpu, result)


async def _minimal_loop(plan: Plan, base_url: str, concurrency: int) -> None:
    """What a careful person would write by hand: upload once, generate, download, write."""
    headers = {"API-KEY": API_KEY}
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=600.0) as http:
        keys: dict[str, str] = {}
        for job in plan.jobs:
            image = job.image
            if image.sha256 in keys or image.path is None or image.sha256 is None:
                continue
            files = {"asset": (image.path.name, image.path.read_bytes(), "image/png")}
            answer = await http.post(f"{base_url}/api/assets", files=files, headers=headers)
            keys[image.sha256] = answer.raise_for_status().json()["fileContent"]["path"]
        pending = iter(plan.jobs)

        async def worker() -> None:
            for job in pending:
                assert job.image.sha256 is not None
                body = {
                    "type": "BACKGROUND_REPLACER",
                    "model": "gpt-image-1",
                    "promptObject": job.prompt_object.to_api(keys[job.image.sha256]),
                }
                answer = await http.post(f"{base_url}/api/features", json=body, headers=headers)
                record = answer.raise_for_status().json()["aiRecord"]
                key = record["aiRecordDetail"]["resultObject"][0]
                image = await http.get(f"{base_url}/asset/{key}")
                target = plan.output_dir / job.outputs[0]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(image.raise_for_status().content)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def run_minimal(plan: Plan, base_url: str, concurrency: int) -> Measured:
    cpu, wall = cpu_seconds(), time.perf_counter()
    asyncio.run(_minimal_loop(plan, base_url, concurrency))
    return Measured(time.perf_counter() - wall, cpu_seconds() - cpu)


# -- the four measurements -----------------------------------------------------------------------


def bench_overhead(jobs: int, fmt: str) -> None:
    config = EmulatorConfig(latency=0.0, cache_results=True, credit_limit=CREDITS)
    with emulator(config) as emu, tempfile.TemporaryDirectory() as tmp:
        warm_up(emu.base_url, fmt)
        plan = make_plan(Path(tmp), jobs, fmt)
        emu_cpu = emu.cpu_seconds()
        m = run_ours(plan, emu.base_url, concurrency=32, rpm=1e9)
        emu_cpu = emu.cpu_seconds() - emu_cpu
    print(f"(a) overhead: {jobs} jobs, zero latency, concurrency 32, {fmt}")
    print(f"    {jobs / m.wall_s:,.0f} jobs/s; runner CPU {m.cpu_s * 1000 / jobs:.2f} ms per job")
    print(f"    wall {m.wall_s:.2f} s; runner CPU {m.cpu_s:.2f} s; emulator CPU {emu_cpu:.2f} s")


def bench_efficiency(jobs: int, fmt: str, rounds: int, profile: bool) -> None:
    """(b) and (c), alternating ours and the minimal loop; the best wall time of each counts."""
    latency, concurrency = 0.2, 32
    ideal = jobs * latency / concurrency
    config = EmulatorConfig(latency=latency, cache_results=True, credit_limit=CREDITS)
    ours: list[Measured] = []
    minimal: list[Measured] = []
    with emulator(config) as emu:
        warm_up(emu.base_url, fmt)
        for _ in range(rounds):
            with tempfile.TemporaryDirectory() as tmp:
                plan = make_plan(Path(tmp), jobs, fmt)
                ours.append(run_ours(plan, emu.base_url, concurrency=concurrency, rpm=1e9))
            with tempfile.TemporaryDirectory() as tmp:
                plan = make_plan(Path(tmp), jobs, fmt)
                minimal.append(run_minimal(plan, emu.base_url, concurrency))
        if profile:
            with tempfile.TemporaryDirectory() as tmp:
                plan = make_plan(Path(tmp), jobs, fmt)
                profile_run(lambda: run_ours(plan, emu.base_url, concurrency=32, rpm=1e9))
    best, base = min(ours, key=lambda m: m.wall_s), min(minimal, key=lambda m: m.wall_s)
    walls = ", ".join(f"{m.wall_s:.2f}" for m in ours)
    base_walls = ", ".join(f"{m.wall_s:.2f}" for m in minimal)
    print(f"(b) efficiency: {jobs} jobs, {latency * 1000:.0f} ms latency, concurrency 32, {fmt}")
    print(f"    wall {best.wall_s:.2f} s / ideal {ideal:.2f} s = {best.wall_s / ideal:.2f}")
    print(f"    runner CPU {best.cpu_s:.2f} s ({best.cpu_s * 1000 / jobs:.2f} ms per job)")
    print(f"    rounds (wall s): {walls}")
    print(f"(c) minimal asyncio+httpx loop, same workload, same run: wall {base.wall_s:.2f} s,")
    print(f"    CPU {base.cpu_s:.2f} s ({base.cpu_s * 1000 / jobs:.2f} ms per job)")
    print(f"    rounds (wall s): {base_walls}")
    print(f"    ours / minimal = {best.wall_s / base.wall_s:.3f} (target <= 1.05)")


def bench_rate_bound(jobs: int, fmt: str) -> None:
    """(d) at our --rpm 600 = the emulator's limit, then at --rpm 900, over it (429 handling);
    against a token bucket, then a sliding 1-second window."""
    rps, latency = 10, 1.0
    ideal = jobs / rps
    print(f"(d) rate-bound: emulator {rps} req/s, {jobs} jobs at {latency:g} s, concurrency auto")
    for model in ("token-bucket", "sliding-1s"):
        config = EmulatorConfig(
            latency=latency,
            rpm_limit=rps * 60,
            limit_model=model,
            cache_results=True,
            credit_limit=CREDITS,
        )
        for rpm in (rps * 60, rps * 90):
            with emulator(config) as emu, tempfile.TemporaryDirectory() as tmp:
                warm_up(emu.base_url, fmt)
                plan = make_plan(Path(tmp), jobs, fmt)
                time.sleep(2)  # let the emulator's limit forget the warm-up
                before = emulator_stats(emu.base_url)
                m = run_ours(plan, emu.base_url, concurrency=None, rpm=rpm)
                after = emulator_stats(emu.base_url)
            refused = after["api_429"] - before["api_429"]
            requests = after["api_requests"] - before["api_requests"]
            ratio = m.wall_s / ideal
            print(
                f"    {model}, --rpm {rpm}: wall {m.wall_s:.2f} s / ideal {ideal:.0f} s ="
                f" {ratio:.2f}; 429s: {refused} of {requests} API requests"
                f" ({refused / max(1, requests):.1%})"
            )
    print(f"    ({SOURCES} uploads + {jobs} generations per run)")


def warm_up(base_url: str, fmt: str) -> None:
    """Let the emulator render its cached result once, outside the measurement."""
    with tempfile.TemporaryDirectory() as tmp:
        plan = make_plan(Path(tmp), 1, fmt)
        run_ours(plan, base_url, concurrency=1, rpm=1e9)


def profile_run(action: Callable[[], object]) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    action()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(18)
    print("    profile of (b), main thread, by own time:")
    for line in out.getvalue().splitlines():
        if line.strip():
            print("    " + line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke test")
    parser.add_argument("--profile", action="store_true", help="profile a run of (b)")
    parser.add_argument("--format", default="png", choices=("png", "jpeg", "webp"))
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (b) and (c)")
    parser.add_argument("--only", default="abcd", help="which measurements, e.g. --only bc")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    print(f"run benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    if "a" in args.only:
        bench_overhead(2000 // scale, args.format)
    if "b" in args.only or "c" in args.only:
        bench_efficiency(640 // scale, args.format, args.rounds, args.profile)
    if "d" in args.only:
        bench_rate_bound(150 // scale, args.format)


if __name__ == "__main__":
    main()
