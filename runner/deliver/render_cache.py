"""What each rendering gave before, so that an unchanged re-export does not resize everything again.

Kept in the output folder's private `.backdrop/export-cache.json`: render key (source hash,
channel size and fit, format, quality, Pillow version) -> the delivered bytes' SHA-256 and size.
A cached entry is used only when the file already delivered (loose, or inside its zip) still
hashes to it, so a stale or damaged cache can cost time, never a wrong file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from runner.diagnostics import StateError
from runner.recipe.model import Channel
from runner.report.atomic import write_atomic

CACHE_PATH = ".backdrop/export-cache.json"
_FORMAT = 1


def render_key(source_sha256: str, channel: Channel | None, fmt: str, quality: int) -> str:
    import PIL

    spec = None if channel is None else [channel.width, channel.height, channel.fit]
    background = None if channel is None else list(channel.background)
    parts = [_FORMAT, PIL.__version__, source_sha256, spec, background, fmt, quality]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class RenderCache:
    def __init__(self, output_dir: Path, to: Path) -> None:
        self.path = output_dir / CACHE_PATH
        self.to = to
        self.entries: dict[str, list[Any]] = {}
        self.changed = False
        self._zips: dict[str, zipfile.ZipFile | None] = {}
        with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
            data = json.loads(self.path.read_text("utf-8"))
            if data.get("format") == _FORMAT and isinstance(data.get("entries"), dict):
                self.entries = data["entries"]

    def reuse(self, key: str, path: str, zip_name: str) -> tuple[bytes, int, int] | None:
        """The delivered bytes (and pixel size) when they are what this rendering gave before."""
        entry = self.entries.get(key)
        if not (isinstance(entry, list) and len(entry) == 3):
            return None
        data = self._delivered(path, zip_name)
        if data is None or hashlib.sha256(data).hexdigest() != entry[0]:
            return None
        return data, int(entry[1]), int(entry[2])

    def remember(self, key: str, data: bytes, width: int, height: int) -> None:
        entry = [hashlib.sha256(data).hexdigest(), width, height]
        if self.entries.get(key) != entry:
            self.entries[key] = entry
            self.changed = True

    def save(self) -> None:
        for archive in self._zips.values():
            if archive is not None:
                archive.close()
        if not self.changed:
            return
        text = json.dumps({"format": _FORMAT, "entries": self.entries}, sort_keys=True)
        with contextlib.suppress(
            OSError, StateError
        ):  # only a cache: a read-only output folder is fine
            write_atomic(self.path, text.encode("utf-8"), durable=False)

    def _delivered(self, path: str, zip_name: str) -> bytes | None:
        if not zip_name:
            target = self.to / path
            if target.is_symlink():
                return None
            with contextlib.suppress(OSError):
                return target.read_bytes()
            return None
        if zip_name not in self._zips:
            archive = None
            with contextlib.suppress(OSError, zipfile.BadZipFile):
                archive = zipfile.ZipFile(self.to / zip_name)
            self._zips[zip_name] = archive
        archive = self._zips[zip_name]
        if archive is None:
            return None
        with contextlib.suppress(KeyError, OSError, zipfile.BadZipFile, ValueError):
            return archive.read(path)
        return None
