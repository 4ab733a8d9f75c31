"""What each rendering gave before, so that an unchanged re-export does not resize everything again.

Kept in the output folder's private `.backdrop/export-cache.json`: render key (source hash,
channel size and fit, format, quality, Pillow version) -> the delivered bytes' SHA-256, pixel
size and size in bytes. A cached entry is used only when the file already delivered (loose, or
inside its zip) still is of that size and hashes to it, so a stale or damaged cache can cost
time, never a wrong file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.diagnostics import StateError
from runner.fileio import read_private, write_atomic
from runner.recipe.model import Channel

CACHE_PATH = ".backdrop/export-cache.json"
_FORMAT = 2  # 2: rendered in bands (runner/deliver/resize.py), sizes in bytes kept
MAX_CACHE_BYTES = 64 << 20  # larger is not one export wrote: read as no cache at all


@dataclass(frozen=True)
class Rendered:
    """What a rendering gave: the delivered file's SHA-256, pixel size and size in bytes."""

    sha256: str
    width: int
    height: int
    size: int


def render_key(source_sha256: str, channel: Channel | None, fmt: str, quality: int) -> str:
    import PIL

    spec = None if channel is None else [channel.width, channel.height, channel.fit]
    background = None if channel is None else list(channel.background)
    parts = [_FORMAT, PIL.__version__, source_sha256, spec, background, fmt, quality]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class RenderCache:
    def __init__(self, output_dir: Path) -> None:
        self.path = output_dir / CACHE_PATH
        self.entries: dict[str, Any] = {}
        self.changed = False
        with contextlib.suppress(ValueError, TypeError, AttributeError, RecursionError):
            data = json.loads(read_private(self.path, MAX_CACHE_BYTES) or b"{}")
            if data.get("format") == _FORMAT and isinstance(data.get("entries"), dict):
                self.entries = data["entries"]

    def get(self, key: str) -> Rendered | None:
        entry = self.entries.get(key)
        if not (isinstance(entry, list) and len(entry) == 4):
            return None
        sha, width, height, size = entry
        if not isinstance(sha, str) or not all(isinstance(n, int) for n in (width, height, size)):
            return None
        return Rendered(sha, width, height, size)

    def remember(self, key: str, rendered: Rendered) -> None:
        entry = [rendered.sha256, rendered.width, rendered.height, rendered.size]
        if self.entries.get(key) != entry:
            self.entries[key] = entry
            self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        text = json.dumps({"format": _FORMAT, "entries": self.entries}, sort_keys=True)
        # Only a cache: a read-only output folder is fine.
        with contextlib.suppress(OSError, StateError):
            write_atomic(self.path, text.encode("utf-8"), durable=False)
