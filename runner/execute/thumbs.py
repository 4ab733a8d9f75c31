"""Small thumbnails for the contact sheet, named by the content hash so they are made only once.

Thumbnails live in `<output>/.backdrop/thumbs/<sha256>-<size>.jpg`. A thumbnail whose name is
already there is reused; thumbnails no report needs any more are deleted. Pillow releases the
GIL while decoding, resizing and encoding, so a thread pool uses every core. JPEG because it
encodes twenty times faster than WebP at this size; transparency is flattened onto white.

Decoding the full-size image is most of the cost (about 20 ms for a 1536x1024 WebP or PNG), so
the first report over thousands of full-size results takes a while; later ones reuse the thumbs.
So a run makes them as each image lands (ThumbnailMaker, one background thread): against the
real API this work hides behind the rate limit, and nothing waits for it but the end of the run.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

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
    return f"{sha256}-{THUMB_MAX}.jpg"


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


def make_thumbnail(output_dir: Path, sha256: str, source: Path) -> bool:
    """Make one image's thumbnail now, unless it is there already (a run makes them as images
    land, so that the report only reuses them); False if the source cannot be read."""
    folder = output_dir / THUMBS_DIR
    if (folder / thumb_name(sha256)).is_file():
        return True
    folder.mkdir(parents=True, exist_ok=True)
    return _make(folder, sha256, ThumbRequest(source)) is not None


class ThumbnailMaker:
    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir
        # One thread: the run's own work (downloads, checks, state) keeps priority over previews.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backdrop-thumbs")
        self._seen: set[str] = set()
        self.submitted = 0

    def submit(self, sha256: str, source: Path) -> None:
        """Make the thumbnail of this image soon, once per content."""
        if sha256 in self._seen:
            return
        self._seen.add(sha256)
        self.submitted += 1
        future: Future[bool] = self._pool.submit(_make_quietly, self.output_dir, sha256, source)
        future.add_done_callback(_ignore)

    def close(self, *, wait: bool = True) -> None:
        """Finish the queued thumbnails (or drop them: the report makes what is missing)."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


def _make_quietly(output_dir: Path, sha256: str, source: Path) -> bool:
    try:
        return make_thumbnail(output_dir, sha256, source)
    except Exception:  # a preview must never fail the run: the report tries again
        return False


def _ignore(future: Future[bool]) -> None:
    future.exception()


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
            _encode(folder, sha, image, size)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return _thumb(sha, *size)


def _encode(folder: Path, sha: str, image: PILImage, size: tuple[int, int]) -> None:
    from PIL import Image

    from runner.fileio import write_atomic

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
    elif image.mode == "RGB":
        flat = image  # convert() would copy it (4 MB at 1024x1024), and reduce copies anyway
    else:
        flat = image.convert("RGB")
    # A box reduction by a whole factor first (fast, and it averages every pixel), then a
    # bilinear step for the rest: quick and smooth enough for a 256-pixel preview.
    factor = min(flat.width // size[0], flat.height // size[1])
    if factor >= 2:
        flat = flat.reduce(factor)
    small = flat.resize(size, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=THUMB_QUALITY, optimize=False)
    write_atomic(folder / thumb_name(sha), buffer.getvalue(), durable=False)
