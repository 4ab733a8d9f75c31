"""Small thumbnails for the contact sheet, named by the content hash so they are made only once.

Thumbnails live in `<output>/.backdrop/thumbs/<sha256>-<size>.webp`. A thumbnail whose name is
already there is reused; thumbnails no report needs any more are deleted. Pillow releases the
GIL while decoding, resizing and encoding, so a thread pool uses every core.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

THUMB_MAX = 256  # pixels, the longest side
THUMB_QUALITY = 70
THUMBS_DIR = Path(".backdrop") / "thumbs"
_PARALLEL_FROM = 16  # below this, a thread pool costs more than it saves


@dataclass(frozen=True)
class Thumb:
    path: str  # POSIX, relative to the output folder
    width: int
    height: int


@dataclass(frozen=True)
class ThumbRequest:
    source: Path  # the full-size image
    width: int | None = None  # its size when known (then the thumbnail's size is too)
    height: int | None = None


def thumb_size(width: int, height: int) -> tuple[int, int]:
    """The thumbnail's size for an image of this size: fit in THUMB_MAX, never enlarge."""
    scale = min(1.0, THUMB_MAX / max(width, 1), THUMB_MAX / max(height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def thumb_name(sha256: str) -> str:
    return f"{sha256}-{THUMB_MAX}.webp"


def build_thumbnails(
    output_dir: Path, requests: Mapping[str, ThumbRequest], *, prune: bool = True
) -> dict[str, Thumb | None]:
    """Make (or reuse) a thumbnail per content hash; None where the source cannot be read."""
    folder = output_dir / THUMBS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    existing = {entry.name: entry for entry in os.scandir(folder) if entry.is_file()}
    result: dict[str, Thumb | None] = {}
    todo: list[tuple[str, ThumbRequest]] = []
    for sha, request in requests.items():
        entry = existing.get(thumb_name(sha))
        reusable = entry is not None and entry.stat().st_size > 0
        if reusable and request.width and request.height:
            result[sha] = _thumb(sha, *thumb_size(request.width, request.height))
        elif reusable:
            result[sha] = _read_existing(folder, sha)
        else:
            todo.append((sha, request))
    if len(todo) >= _PARALLEL_FROM:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            made = list(pool.map(lambda item: _make(folder, *item), todo))
    else:
        made = [_make(folder, sha, request) for sha, request in todo]
    for (sha, _), thumb in zip(todo, made, strict=True):
        result[sha] = thumb
    if prune:
        wanted = {thumb_name(sha) for sha in requests}
        for name in existing.keys() - wanted:
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
    return result


def _thumb(sha: str, width: int, height: int) -> Thumb:
    return Thumb((THUMBS_DIR / thumb_name(sha)).as_posix(), width, height)


def _read_existing(folder: Path, sha: str) -> Thumb | None:
    from PIL import Image

    try:
        with Image.open(folder / thumb_name(sha)) as image:
            return _thumb(sha, *image.size)
    except (OSError, ValueError):
        return None


def _make(folder: Path, sha: str, request: ThumbRequest) -> Thumb | None:
    from PIL import Image

    try:
        with Image.open(request.source) as image:
            size = thumb_size(*image.size)
            image.draft("RGB", size)  # JPEG: decode at a reduced scale, much faster
            small = image.convert("RGBA" if _has_alpha(image) else "RGB")
            small = small.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
        buffer = io.BytesIO()
        small.save(buffer, format="WEBP", quality=THUMB_QUALITY, method=2)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    from runner.report.atomic import write_atomic

    write_atomic(folder / thumb_name(sha), buffer.getvalue(), durable=False)
    return _thumb(sha, *size)


def _has_alpha(image: object) -> bool:
    from PIL import Image

    assert isinstance(image, Image.Image)
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
