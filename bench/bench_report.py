"""Benchmark: write every report for a 5,000-job run, with cold and with warm thumbnails.

Builds a synthetic run in a temporary folder: 20 products x 10 seasons x 25 markets, one real
small JPEG per job (480x320, each one different), about 2% failed jobs. Then times
write_reports with no thumbnails yet (cold), again with all of them present (warm), each report
on its own, and `verify_outputs` over the folder. A last figure gives the cold thumbnail cost per
full-size (1536x1024 WebP) image, to scale the cold figure to real outputs.

Run: .venv/bin/python bench/bench_report.py
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.execute.thumbs import THUMBS_DIR, ThumbRequest, build_thumbnails
from runner.records.lock_reader import verify_outputs
from runner.records.run_records import FileRecord, GenerationRecord, JobRecord, RunSnapshot
from runner.report.context import ReportContext
from runner.report.formats import WRITERS
from runner.report.writer import prepare_thumbnails, write_reports

PRODUCTS = 20
SEASONS = 10
MARKETS = 25
SMALL = (480, 320)
RUN_ID = "20240501T090000Z-be9c40"
FULL = (1536, 1024)
FULL_COUNT = 100


def _image_bytes(seed: int, size: tuple[int, int], fmt: str) -> bytes:
    image = Image.new("RGB", size, (seed % 256, (seed // 256) % 256, (seed * 7) % 256))
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=(240, 240, 240))
    draw.text((10, 10), str(seed), fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=80)
    return buffer.getvalue()


def _write_output(out: Path, index: int) -> FileRecord:
    relative = f"m{index % MARKETS:02d}/job-{index:05d}.jpg"
    data = _image_bytes(index, SMALL, "JPEG")
    path = out / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return FileRecord(relative, hashlib.sha256(data).hexdigest(), *SMALL, len(data))


def build_run(root: Path) -> tuple[Path, RunSnapshot]:
    out = root / "out"
    sources = root / "sources"
    sources.mkdir(parents=True)
    for product in range(PRODUCTS):
        (sources / f"p{product:02d}.png").write_bytes(_image_bytes(product, (512, 512), "PNG"))
    count = PRODUCTS * SEASONS * MARKETS
    failed = {index for index in range(count) if index % 50 == 7}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        records = list(
            pool.map(lambda i: None if i in failed else _write_output(out, i), range(count))
        )
    jobs = []
    for index, record in enumerate(records):
        product, rest = divmod(index, SEASONS * MARKETS)
        season, market = divmod(rest, MARKETS)
        vars_ = {
            "product": {"sku": f"SKU-{product:02d}", "name": f"product {product}"},
            "season": f"season-{season}",
            "market": {"code": f"m{market:02d}", "setting": f"a setting for market {market}"},
        }
        prompt = f"product {product} in a setting for market {market} in season {season}"
        jobs.append(
            JobRecord(
                key=hashlib.sha256(prompt.encode()).hexdigest()[:24],
                index=index,
                label=f"product=SKU-{product:02d} season=season-{season} market=m{market:02d}",
                vars=vars_,
                image_kind="file",
                image_ref=f"sources/p{product:02d}.png",
                image_path=str(sources / f"p{product:02d}.png"),
                prompt_object={
                    "prompt": prompt,
                    "size": "1536x1024",
                    "n": 1,
                    "quality": "low",
                    "output_format": "jpeg",
                    "output_compression": 80,
                },
                outputs=(f"m{market:02d}/job-{index:05d}.jpg",),
                status="failed" if record is None else "done",
                attempts=1,
                error="Server error (504)" if record is None else None,
                record_uuid=None if record is None else f"uuid-{index}",
                files=() if record is None else (record,),
                duration_s=30.0,
            )
        )
    snapshot = RunSnapshot(
        recipe_name="bench-5000",
        recipe_path="bench.yaml",
        run_id="bench",
        started_at="2024-05-01T09:00:00+00:00",
        finished_at="2024-05-01T10:00:00+00:00",
        tool_version="bench",
        axes=("product", "season", "market"),
        report_rows=None,
        report_columns=None,
        estimated_cost_usd=80.0,
        jobs=tuple(jobs),
        generations=tuple(
            GenerationRecord(job.record_uuid, job.key, RUN_ID, 1, "low", "1536x1024")
            for job in jobs
            if job.record_uuid is not None
        ),
    )
    return out, snapshot


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """User plus system CPU time of this process, all threads: a figure that load does not skew."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def full_size_thumb_cost(root: Path) -> tuple[float, float]:
    """Wall and CPU seconds per thumbnail of a full-size image."""
    folder = root / "full"
    folder.mkdir()
    requests = {}
    for seed in range(FULL_COUNT):
        path = folder / f"{seed}.webp"
        path.write_bytes(_image_bytes(seed, FULL, "WEBP"))
        requests[f"{seed:064x}"] = ThumbRequest(path, *FULL)
    cpu = cpu_seconds()
    wall = timed(lambda: build_thumbnails(folder, requests))
    return wall / FULL_COUNT, (cpu_seconds() - cpu) / FULL_COUNT


def during_run(snapshot: RunSnapshot, out: Path) -> None:
    """As `run` does now: each image's thumbnail made on the run's background thread as it
    lands; then the report at the end, which should only reuse them."""
    import shutil

    from runner.execute.thumbs import ThumbnailMaker

    shutil.rmtree(out / THUMBS_DIR)
    maker = ThumbnailMaker(out)
    cpu, wall = cpu_seconds(), time.perf_counter()
    for job in snapshot.jobs:
        for record in job.files:
            maker.submit(record.sha256, out / record.path)
        if job.image_path:  # the run knows each source's hash from the plan
            source = Path(job.image_path)
            maker.submit(hashlib.sha256(source.read_bytes()).hexdigest(), source)
    maker.close()
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    made = {entry.name: entry.stat().st_mtime_ns for entry in os.scandir(out / THUMBS_DIR)}
    print(
        f"as during a run: {maker.submitted} thumbnails on one background thread:"
        f" {wall:6.2f} s wall, {cpu:6.2f} s CPU"
    )
    cpu = cpu_seconds()
    report = timed(lambda: write_reports(snapshot, out))
    after = {entry.name: entry.stat().st_mtime_ns for entry in os.scandir(out / THUMBS_DIR)}
    fresh = sum(1 for name, mtime in after.items() if made.get(name) != mtime)
    print(
        f"  then write_reports: {report:6.2f} s wall, {cpu_seconds() - cpu:6.2f} s CPU;"
        f" thumbnails it made or rewrote: {fresh} of {len(after)}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="backdrop-bench-report-") as temp:
        root = Path(temp)
        setup = time.perf_counter()
        out, snapshot = build_run(root)
        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
        print(
            f"setup: {len(snapshot.jobs)} jobs, {snapshot.totals()['images']} images "
            f"({time.perf_counter() - setup:.1f} s, not timed below)"
        )
        cpu = cpu_seconds()
        cold = timed(lambda: write_reports(snapshot, out))
        cold_cpu, cpu = cpu_seconds() - cpu, cpu_seconds()
        warm = timed(lambda: write_reports(snapshot, out))
        warm_cpu, cpu = cpu_seconds() - cpu, cpu_seconds()
        # One job failed since: every report is written again (the thumbnails are reused).
        failed = dataclasses.replace(snapshot.jobs[0], status="failed", error="504", files=())
        changed = dataclasses.replace(snapshot, jobs=(failed, *snapshot.jobs[1:]))
        rewrite = timed(lambda: write_reports(changed, out))
        rewrite_cpu = cpu_seconds() - cpu
        print(f"write_reports, cold thumbnails: {cold:6.2f} s wall, {cold_cpu:6.2f} s CPU")
        print(
            f"write_reports, warm thumbnails, reports unchanged (none written):"
            f" {warm:6.2f} s wall, {warm_cpu:6.2f} s CPU"
        )
        print(
            f"write_reports, warm thumbnails, one job changed (all written):"
            f" {rewrite:6.2f} s wall, {rewrite_cpu:6.2f} s CPU"
        )
        thumbs, sources = prepare_thumbnails(snapshot, out)
        reuse = timed(lambda: prepare_thumbnails(snapshot, out))
        print(f"  thumbnails (warm, reused):    {reuse:6.2f} s")
        context = ReportContext(out, thumbs, sources)
        for writer in WRITERS:
            seconds = timed(partial(writer.render, snapshot, context))
            size = (out / writer.filename).stat().st_size / 1e6
            print(f"  {writer.filename:<14} render     {seconds:6.2f} s  ({size:.1f} MB)")
        print(f"verify_outputs (hash 4,900 files): {timed(lambda: verify_outputs(out)):6.2f} s")
        during_run(snapshot, out)
        wall, cpu = full_size_thumb_cost(root)
        print(
            f"cold thumbnail per full-size 1536x1024 WebP: {wall * 1000:.1f} ms wall, "
            f"{cpu * 1000:.1f} ms CPU (x5,000: {wall * 5000:.0f} s wall, {cpu * 5000:.0f} s CPU)"
        )


if __name__ == "__main__":
    main()
