"""Rendered results kept on disk and shared between emulators: for test suites and benchmarks.

One result costs 35 to 60 ms of CPU to compose and encode at 1024 px. A test suite starts dozens
of emulators (in-process and inside `backdrop run --emulate` children) that render the same few
campaigns again and again; with BACKDROP_EMULATOR_RENDER_CACHE naming a folder, each distinct
image is rendered once. The key covers every input of a render, the subject's bytes and the
source of the compositor (and of the PNG chunks it writes), so a cached image is byte for
byte what rendering would give.

Best effort by design: a folder that cannot be read or written only means rendering again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from contextlib import suppress
from functools import cache
from pathlib import Path

ENV_VAR = "BACKDROP_EMULATOR_RENDER_CACHE"


def render_cache_from_env() -> Path | None:
    folder = os.environ.get(ENV_VAR, "").strip()
    return Path(folder) if folder else None


@cache
def _compositor_digest() -> str:
    # A changed compositor renders differently: its old images must not be served. Its PNG
    # files are written with png_chunks: a change there changes their bytes too.
    from runner import png_chunks
    from runner.emulator import compositor  # (lazily: PIL is slow to import)

    digest = hashlib.sha256()
    for source in (compositor.__file__, png_chunks.__file__):
        digest.update(Path(source).read_bytes())
    return digest.hexdigest()


class RenderCache:
    """Encoded results on disk, one file per distinct render, written atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def key(self, subject: str, *inputs: object) -> str:
        """A file name for a render of `subject` (a digest of its bytes) with these inputs."""
        text = "\0".join([_compositor_digest(), subject, *map(repr, inputs)])
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def fetch(self, key: str, render: Callable[[], bytes]) -> bytes:
        """The cached bytes under `key`, or render() kept there for the next emulator."""
        data = self.get(key)
        if data is None:
            data = render()
            self.put(key, data)
        return data

    def get(self, key: str) -> bytes | None:
        try:
            return (self.folder / key).read_bytes()
        except OSError:
            return None

    def put(self, key: str, data: bytes) -> None:
        part = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Renamed into place: another process never reads half an image.
            with tempfile.NamedTemporaryFile(dir=self.folder, delete=False) as file:
                part = Path(file.name)
                file.write(data)
            part.replace(self.folder / key)
        except OSError:
            if part is not None:
                with suppress(OSError):
                    part.unlink(missing_ok=True)
