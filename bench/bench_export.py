"""Benchmark: export 40 approved jobs to two channels, then export the unchanged review again.

Builds a synthetic run in a temporary folder: 4 products x 10 markets, one distinct 1536x1024
WebP per job (the API's landscape size), every job approved. Times `export_outputs` with two
channels (instagram 1080x1350 cover, story 1080x1920 contain) as PNG and as JPEG, loose and
zipped per market, cold (nothing in the delivery folder) and warm (the same export again, which
must write nothing).

Run: .venv/bin/python bench/bench_export.py
"""

from __future__ import annotations

import hashlib
import io
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.deliver.export_outputs import ExportOptions, export_outputs
from runner.recipe.model import Channel
from runner.records.run_records import FileRecord, JobRecord, RunSnapshot
from runner.review.decision_model import Decision

PRODUCTS = 4
MARKETS = 10
SIZE = (1536, 1024)
CHANNELS = (
    Channel("instagram", 1080, 1350),
    Channel("story", 1080, 1920, "contain", (0, 0, 0)),
)


def build_run(out: Path) -> RunSnapshot:
    jobs = []
    for p in range(PRODUCTS):
        for m in range(MARKETS):
            index = p * MARKETS + m
            image = Image.new("RGB", SIZE, (40 + 5 * index % 200, 90, 160))
            ImageDraw.Draw(image).ellipse((300 + index, 200, 1200, 900), fill=(230, 200, 40))
            buffer = io.BytesIO()
            image.save(buffer, "WEBP", quality=85)
            data = buffer.getvalue()
            path = f"m{m:02d}/P{p}.webp"
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            (out / path).write_bytes(data)
            record = FileRecord(path, hashlib.sha256(data).hexdigest(), *SIZE, len(data))
            jobs.append(
                JobRecord(
                    key=f"{index:064x}",
                    index=index,
                    label=f"product=P{p} market=m{m:02d}",
                    vars={"product": {"sku": f"P{p}"}, "market": {"code": f"m{m:02d}"}},
                    image_kind="url",
                    image_ref="https://example.com/x.png",
                    image_path=None,
                    prompt_object={"prompt": f"P{p} in m{m:02d}", "size": "1536x1024"},
                    outputs=(path,),
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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        snapshot = build_run(out)
        approved = {  # made on the images, as the review page approves (issue 15)
            job.outputs[0][:-5]: Decision(status="approved", sha256=(job.files[0].sha256,))
            for job in snapshot.jobs
        }
        print(f"{len(snapshot.jobs)} approved jobs x {len(CHANNELS)} channels")
        for label, options in (
            ("png, loose", ExportOptions()),
            ("jpeg q90, loose", ExportOptions(format="jpeg")),
            ("jpeg q90, zip per market", ExportOptions(format="jpeg", zip=True)),
        ):
            to = Path(tmp) / label.replace(" ", "").replace(",", "-")
            for run in ("cold", "warm"):
                started = time.perf_counter()
                result = export_outputs(out, to, snapshot, approved, CHANNELS, options)
                took = time.perf_counter() - started
                print(
                    f"{label:<26} {run}: {took:6.2f} s  {len(result.files)} files, "
                    f"{len(result.written)} written, {result.unchanged} unchanged"
                )


if __name__ == "__main__":
    main()
