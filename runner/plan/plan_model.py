"""The Plan: the contract between planning and execution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from runner.diagnostics import Diagnostic
from runner.recipe.model import PriceTable, ReportLayout


@dataclass(frozen=True)
class PromptObject:
    """A resolved promptObject, minus imageUrl (known only once the image is uploaded)."""

    prompt: str
    size: str
    n: int
    quality: str
    output_format: str
    output_compression: int

    def to_api(self, image_url: str) -> dict[str, Any]:
        return {
            "imageUrl": image_url,
            "prompt": self.prompt,
            "size": self.size,
            "n": self.n,
            "quality": self.quality,
            "output_format": self.output_format,
            "output_compression": self.output_compression,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "size": self.size,
            "n": self.n,
            "quality": self.quality,
            "output_format": self.output_format,
            "output_compression": self.output_compression,
        }


@dataclass(frozen=True)
class ImageSource:
    """A job's source image: a local file, an https:// URL, or an existing 1min.ai asset key."""

    kind: Literal["file", "url", "asset"]
    ref: str  # file: the path as rendered; url: the URL; asset: the key without "asset:"
    path: Path | None = None  # file: the absolute path
    sha256: str | None = None  # file: the content hash
    mimetype: str | None = None  # file: image/png, image/jpeg or image/webp

    @property
    def identity(self) -> str:
        """What the job key hashes: the content for files, else the URL or asset key."""
        if self.kind == "file":
            assert self.sha256 is not None
            return f"sha256:{self.sha256}"
        return f"{self.kind}:{self.ref}"


@dataclass(frozen=True)
class Job:
    key: str  # stable hash of image identity, promptObject, model and type
    index: int  # position in the plan, from 0
    vars: Mapping[str, Any]  # the matrix combination (axis values and include-added keys)
    label: str  # "product=MUG-01 season=winter market=fr-FR"
    image: ImageSource
    prompt_object: PromptObject
    outputs: tuple[str, ...]  # POSIX paths relative to the output folder, one per image (n)
    take: int = 1  # regenerations after a rejection: take 2 and later have keys of their own

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "index": self.index,
            "label": self.label,
            "vars": dict(self.vars),
            "image": {"kind": self.image.kind, "ref": self.image.ref, "sha256": self.image.sha256},
            "prompt_object": self.prompt_object.to_json(),
            "outputs": list(self.outputs),
            "take": self.take,
        }


@dataclass(frozen=True)
class CostEstimate:
    """An estimate only: list prices times images, by (quality, size)."""

    total_usd: float
    by_kind: Mapping[tuple[str, str], tuple[int, float]]  # (quality, size) -> (images, usd)


@dataclass(frozen=True)
class Plan:
    recipe_name: str
    recipe_path: Path
    output_dir: Path  # absolute
    axes: tuple[str, ...]  # axis names in declaration order
    jobs: tuple[Job, ...]
    prices: PriceTable
    report: ReportLayout
    budget: float | None = None  # USD the output folder may cost at most (recipe `budget:`)
    warnings: tuple[Diagnostic, ...] = ()  # what is usable but probably not meant (Word's quotes)

    @property
    def image_count(self) -> int:
        return sum(job.prompt_object.n for job in self.jobs)

    @property
    def upload_count(self) -> int:
        return len({job.image.sha256 for job in self.jobs if job.image.kind == "file"})

    def cost(self) -> CostEstimate:
        by_kind: dict[tuple[str, str], tuple[int, float]] = {}
        for job in self.jobs:
            po = job.prompt_object
            kind = (po.quality, po.size)
            images, usd = by_kind.get(kind, (0, 0.0))
            by_kind[kind] = (images + po.n, usd + po.n * self.prices.price(po.quality, po.size))
        return CostEstimate(round(sum(u for _, u in by_kind.values()), 4), by_kind)
