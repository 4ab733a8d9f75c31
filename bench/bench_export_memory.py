"""Benchmark: the peak memory (and time) of exports that deliver very large images.

Each scenario builds a synthetic run of 8 approved jobs in a temporary folder and exports it in
a child process, whose peak resident set size (ru_maxrss) is what is reported:

- api-sources: 1536x1024 PNG sources (the API's landscape size) to three channels (poster
  8192x8192 cover, banner 8192x4096 contain, instagram 1080x1350), as PNG in one zip per market,
  as JPEG loose files, and as WebP loose files (refused since WebP is limited to 5 megapixels:
  also to two channels up to 2560x1920 as WebP);
- huge-sources: 8192x8192 PNG and JPEG sources (an API that sent more than was asked is kept as
  sent) to instagram 1080x1350, and copied as they are without channels.

Run: .venv/bin/python bench/bench_export_memory.py [SCENARIO ...]
"""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner.deliver.export_outputs import ExportOptions, export_outputs  # noqa: E402
from runner.recipe.model import Channel  # noqa: E402
from runner.records.run_records import FileRecord, JobRecord, RunSnapshot  # noqa: E402
from runner.review.decision_model import Decision  # noqa: E402

JOBS = 8
BIG = (
    Channel("poster", 8192, 8192),
    Channel("banner", 8192, 4096, "contain", (0, 0, 0)),
    Channel("instagram", 1080, 1350),
)
SMALL = (Channel("instagram", 1080, 1350),)
WEBP = (Channel("hero", 2560, 1920), Channel("instagram", 1080, 1350))  # WebP: 5 megapixels
# name -> (source size, source format, channels, export options)
SCENARIOS: dict[str, tuple[tuple[int, int], str, tuple[Channel, ...], dict[str, object]]] = {
    "api-sources, 3 channels up to 8192x8192, PNG, --zip": (
        (1536, 1024),
        "png",
        BIG,
        {"zip": True},
    ),
    "api-sources, 3 channels up to 8192x8192, JPEG": ((1536, 1024), "png", BIG, {"format": "jpeg"}),
    "api-sources, 3 channels up to 8192x8192, WebP": ((1536, 1024), "png", BIG, {"format": "webp"}),
    "api-sources, 2 channels up to 2560x1920, WebP": (
        (1536, 1024),
        "png",
        WEBP,
        {"format": "webp"},
    ),
    "huge-sources 8192x8192 PNG, instagram": ((8192, 8192), "png", SMALL, {}),
    "huge-sources 8192x8192 JPEG, instagram": ((8192, 8192), "jpeg", SMALL, {}),
    "huge-sources 8192x8192 PNG, no channels, --zip": ((8192, 8192), "png", (), {"zip": True}),
}


def source_image(size: tuple[int, int], index: int) -> Image.Image:
    """A photo-like image (a gradient, a shape and some noise), different for each job."""
    width, height = size
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    noise = Image.effect_noise(size, 24).convert("RGB")
    image = Image.blend(image, noise, 0.3)
    ImageDraw.Draw(image).ellipse(
        (width // 5 + index * 8, height // 5, width * 4 // 5, height * 4 // 5),
        fill=(230, 200, 40 + index),
    )
    return image


def build_sources(out: Path, size: tuple[int, int], fmt: str) -> None:
    extension = "jpg" if fmt == "jpeg" else fmt
    for index in range(JOBS):
        path = out / f"m{index % 2}" / f"P{index}.{extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        options = {"quality": 90} if fmt == "jpeg" else {}
        source_image(size, index).save(path, fmt.upper(), **options)


def read_run(out: Path, size: tuple[int, int]) -> RunSnapshot:
    """The run that would have written the sources (hashed in chunks: no image is decoded)."""
    jobs = []
    for index, path in enumerate(sorted(out.glob("m*/P*.*"), key=lambda p: p.name)):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        relative = path.relative_to(out).as_posix()
        record = FileRecord(relative, digest.hexdigest(), *size, path.stat().st_size)
        jobs.append(
            JobRecord(
                key=f"{index:064x}",
                index=index,
                label=f"product=P{index} market=m{index % 2}",
                vars={"product": {"sku": f"P{index}"}, "market": {"code": f"m{index % 2}"}},
                image_kind="url",
                image_ref="https://example.com/x.png",
                image_path=None,
                prompt_object={"prompt": f"P{index}", "size": "1536x1024"},
                outputs=(relative,),
                status="done",
                attempts=1,
                error=None,
                record_uuid=None,
                files=(record,),
                duration_s=None,
            )
        )
    return RunSnapshot("bench", "bench.yaml", "r", "", None, "0", ("product", "market"),
                       None, None, 0.0, tuple(jobs))  # fmt: skip


def build(name: str, folder: str) -> None:
    size, fmt, _, _ = SCENARIOS[name]
    build_sources(Path(folder) / "out", size, fmt)


def export(name: str, folder: str) -> None:
    """Export the built run in a fresh process; print the figures as JSON."""
    size, _, channels, options = SCENARIOS[name]
    out = Path(folder) / "out"
    snapshot = read_run(out, size)
    decisions = {
        job.outputs[0].rsplit(".", 1)[0]: Decision(status="approved", sha256=(job.files[0].sha256,))
        for job in snapshot.jobs
    }
    started = time.perf_counter()
    result = export_outputs(
        out,
        Path(folder) / "to",
        snapshot,
        decisions,
        channels,
        ExportOptions(**options),  # type: ignore[arg-type]
    )
    took = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime  # the export, and reading the run before it
    print(
        json.dumps({"files": len(result.files), "s": took, "cpu": cpu, "peak_kib": usage.ru_maxrss})
    )


def main(names: list[str]) -> None:
    for name in names or list(SCENARIOS):
        with tempfile.TemporaryDirectory() as tmp:
            # Decoding the sources to build them would set the exporting process's peak.
            for step in ("--build", "--export"):
                answer = subprocess.run(
                    [sys.executable, __file__, step, name, tmp],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if answer.returncode != 0:
                    break
        if answer.returncode != 0:
            print(f"{name:<58} failed: {answer.stderr.strip().splitlines()[-1:]}")
            continue
        figures = json.loads(answer.stdout.strip().splitlines()[-1])
        print(
            f"{name:<58} peak {figures['peak_kib'] / 1024:6.0f} MiB  {figures['s']:6.1f} s "
            f"({figures.get('cpu', 0):6.1f} s CPU)  "
            f"{figures['files']} files"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--build"]:
        build(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["--export"]:
        export(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1:])
