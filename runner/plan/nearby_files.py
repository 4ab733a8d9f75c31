"""The file a missing path probably meant: `Images/lamp.PNG` when `images/lamp.png` exists.

macOS and Windows ignore case, so a recipe that works there can miss its images on Linux CI;
a close spelling (`lamp.jpg` for `lamp.png`, `imgs/` for `images/`) is the other usual slip.
The work is bounded: a folder's first MAX_LISTED names are looked at, each folder is listed
once, and only the first MAX_CLOSE_SEARCHES paths get a search by closeness (case is a lookup).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path, PurePosixPath

MAX_LISTED = 5_000
MAX_CLOSE_SEARCHES = 50
_CUTOFF = 0.75


class NearbyFiles:
    """Suggests an existing file for a missing relative path, below one base folder."""

    def __init__(self, base: Path, roots: tuple[Path, ...]) -> None:
        self.base = base
        self.roots = roots
        self._listings: dict[Path, tuple[set[str], dict[str, str]]] = {}
        self.close_searches = 0

    def suggest(self, ref: str) -> str | None:
        """The path (written like `ref`, relative to the base) of the file it probably means."""
        parts = PurePosixPath(ref.replace("\\", "/")).parts
        if not parts or parts[0] == "/" or ":" in parts[0]:
            return None
        folder, written = self.base, list[str]()
        close_allowed = self.close_searches < MAX_CLOSE_SEARCHES
        used_close = False
        for number, part in enumerate(parts):
            if part in (".", ".."):
                folder, written = folder / part, [*written, part]
                continue
            names, folded = self._names(folder)
            match = part if part in names else folded.get(part.casefold())
            if match is None and close_allowed:
                used_close = True
                close = difflib.get_close_matches(part, sorted(names), n=1, cutoff=_CUTOFF)
                match = close[0] if close else None
            if match is None:
                break
            folder, written = folder / match, [*written, match]
            if number == len(parts) - 1 and self._is_file_inside(folder):
                self.close_searches += used_close
                return "/".join(written)
        self.close_searches += used_close
        return None

    def _names(self, folder: Path) -> tuple[set[str], dict[str, str]]:
        """A folder's names (at most MAX_LISTED), and each by its case-folded form."""
        key = Path(os.path.normpath(folder))
        listing = self._listings.get(key)
        if listing is None:
            names: list[str] = []
            try:
                with os.scandir(key) as entries:
                    for entry in entries:
                        if len(names) >= MAX_LISTED:
                            break
                        names.append(entry.name)
            except OSError:
                pass
            folded: dict[str, str] = {}
            for name in sorted(names):
                folded.setdefault(name.casefold(), name)
            listing = self._listings[key] = (set(names), folded)
        return listing

    def _is_file_inside(self, path: Path) -> bool:
        real = Path(os.path.realpath(path))
        inside = any(real == root or real.is_relative_to(root) for root in self.roots)
        return inside and real.is_file()
