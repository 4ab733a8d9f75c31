"""Deterministic zips, written as they go: fixed timestamps and modes, members in the order given
(the caller sorts them): equal input, equal bytes."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold


class ZipWriter:
    """Writes a zip into `sink` (a seekable file: the local headers are completed in place, so
    that no data descriptor makes the bytes depend on how they were written)."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.archive = zipfile.ZipFile(sink, "w")

    @contextmanager
    def member(self, name: str) -> Iterator[IO[bytes]]:
        info = zipfile.ZipInfo(name, date_time=_EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        info.create_system = 3  # Unix, whatever the machine: same bytes everywhere
        with self.archive.open(info, "w") as stream:
            yield stream

    def close(self) -> None:
        self.archive.close()
