"""The generated images export delivers, read from the output folder with care.

Each is a regular file inside the output folder (a link may lead only to another place inside
it), of the size the state recorded (a file of another size, say a 4 GB one, is never read),
never a pipe or a device (never opened, so never waited on), and hashed once per export, in
chunks, whatever asks for its hash.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from runner.fileio import NotAFile, open_regular, sha256_stream

# What a file that is not of its recorded size hashes to, for whoever compares: no SHA-256.
WRONG_SIZE = "not of the size recorded"


class SourceFiles:
    """The output folder's files export reads, by their path relative to it."""

    def __init__(self, output_dir: Path, sizes: Mapping[str, int]) -> None:
        self.root = output_dir
        self.real_root = os.path.realpath(output_dir)
        self.sizes = sizes  # relative path -> the size the state recorded
        self.hashes: dict[str, str | None] = {}
        self.problems: dict[str, str] = {}  # relative path -> why it cannot be read

    def sha256(self, path: Path) -> str | None:
        """The SHA-256 of a file of the output folder (computed once); WRONG_SIZE for a file
        not of its recorded size; None when it cannot be read (the reason in `problems`)."""
        relative = Path(os.path.relpath(path, self.root)).as_posix()
        if relative not in self.hashes:
            self.hashes[relative] = self._hash(relative)
        return self.hashes[relative]

    def open(self, relative: str) -> IO[bytes]:
        """The file, opened for reading as sha256 found it (OSError, NotAFile otherwise)."""
        return self._open(relative)[0]

    def _hash(self, relative: str) -> str | None:
        try:
            handle, found = self._open(relative)
        except FileNotFoundError:
            self.problems[relative] = f"{relative} is missing"
            return None
        except NotAFile as exc:
            self.problems[relative] = f"{relative} is {exc.kind}, not an image file"
            return None
        except OSError as exc:
            self.problems[relative] = f"{relative} cannot be read ({exc.strerror or exc})"
            return None
        with handle:
            expected = self.sizes.get(relative)
            if expected is not None and found.st_size != expected:
                return WRONG_SIZE
            try:
                return sha256_stream(handle)
            except OSError as exc:
                self.problems[relative] = f"{relative} cannot be read ({exc.strerror or exc})"
                return None

    def _open(self, relative: str) -> tuple[IO[bytes], os.stat_result]:
        real = self._real(relative)
        if real is None:
            raise NotAFile(self.root / relative, "a link leading out of the output folder")
        return open_regular(Path(real))

    def _real(self, relative: str) -> str | None:
        """The file's path with links followed, when that stays inside the output folder."""
        real = os.path.realpath(self.root / relative)
        inside = real.startswith(self.real_root + os.sep)
        return real if inside else None
