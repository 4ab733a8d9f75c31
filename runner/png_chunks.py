"""PNG's container, which the emulator's encoder and export's streamed writer both write: the
signature, then chunks (length, type, data, CRC of type and data)."""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    """One chunk: `kind` is its four-letter type (b"IHDR", b"IDAT", ...)."""
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
