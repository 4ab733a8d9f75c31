"""PNG a band of rows at a time: read and write an image of any height in the memory of a band.

Pillow decodes and encodes whole images only: 256 MB for an 8192x8192 one. Reading, the IDAT
stream is inflated a band at a time, and each band (with the row above it, which its first row's
filter refers to) is handed to Pillow's PNG decoder, which does the unfiltering (as a small PNG
of its own when a palette or a transparent colour must come with it).
Writing, each band is filtered ("Up", computed by Pillow) and fed to one zlib stream.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Protocol

from runner.png_chunks import SIGNATURE, chunk

if TYPE_CHECKING:
    from PIL import Image

# Colour type -> (bytes per pixel at 8 bits, Pillow's raw mode): the layouts read a band at a time.
_LAYOUTS = {0: (1, "L"), 2: (3, "RGB"), 3: (1, "P"), 4: (2, "LA"), 6: (4, "RGBA")}
_CARRIED = (b"PLTE", b"tRNS")  # chunks each band's PNG needs to mean the same colours
_READ = 1 << 16
_IDAT_SIZE = 1 << 18  # bytes per IDAT chunk written
_FILTER_UP = b"\x02"


class Writable(Protocol):
    """Where a delivered file is written: a file, a zip member, a hashing pass-through."""

    def write(self, data: bytes, /) -> int: ...


class PngDamaged(Exception):
    """The file is not a whole PNG (truncated, a chunk's checksum wrong, rows missing)."""


@dataclass(frozen=True)
class PngHeader:
    width: int
    height: int
    bit_depth: int
    colour_type: int
    interlaced: bool

    @property
    def streamable(self) -> bool:
        """8 bits per sample, not interlaced: what the API and nearly every tool write."""
        return self.bit_depth == 8 and not self.interlaced and self.colour_type in _LAYOUTS


def read_header(handle: IO[bytes]) -> PngHeader:
    if handle.read(len(SIGNATURE)) != SIGNATURE:
        raise PngDamaged("not a PNG file")
    kind, data = _read_chunk(handle)
    if kind != b"IHDR" or len(data) != 13:
        raise PngDamaged("the PNG header is missing")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data)
    if width == 0 or height == 0:
        raise PngDamaged("the PNG has no pixels")
    return PngHeader(width, height, depth, colour, interlace != 0)


def check_chunks(handle: IO[bytes]) -> None:
    """PngDamaged unless the file is a PNG whose every chunk is whole, up to IEND, with image
    data, each checksum right: a file cut short fails here without inflating anything."""
    read_header(handle)
    image_data = False
    while True:
        kind, length = _chunk_start(handle)
        crc = zlib.crc32(kind)
        left = length
        while left:
            piece = _read_exactly(handle, min(left, _READ))
            left -= len(piece)
            crc = zlib.crc32(piece, crc)
        if struct.unpack(">I", _read_exactly(handle, 4))[0] != crc & 0xFFFFFFFF:
            raise PngDamaged(f"the checksum of a {kind.decode('latin-1')} chunk is wrong")
        image_data = image_data or kind == b"IDAT"
        if kind == b"IEND":
            break
    if not image_data:
        raise PngDamaged("it holds no image data")


def png_bands(handle: IO[bytes], rows: int) -> Iterator[Image.Image]:
    """The image (a streamable PNG, from its first byte) in bands of `rows` rows, top first.

    Each band is as Pillow opens it (mode L, RGB, P, LA or RGBA, with its transparency).
    Raises PngDamaged when the file ends early or does not add up.
    """
    header = read_header(handle)
    if not header.streamable:
        raise ValueError("not a streamable PNG")
    pixel_bytes, rawmode = _LAYOUTS[header.colour_type]
    row_bytes = 1 + header.width * pixel_bytes
    carried: list[bytes] = []
    above: bytes | None = None  # the last row of the band before, as raw pixels
    done = 0
    for filtered in _image_data(handle, header, rows * row_bytes, carried):
        count = min(len(filtered) // row_bytes, header.height - done)
        if count <= 0:
            continue
        band, above = _decode_band(header, carried, filtered[: count * row_bytes], above, rawmode)
        done += count
        yield band
        if done == header.height:
            return
    raise PngDamaged(f"the image data ends after {done} of {header.height} rows")


def _image_data(
    handle: IO[bytes], header: PngHeader, band_bytes: int, carried: list[bytes]
) -> Iterator[bytes]:
    """The inflated IDAT stream in pieces of `band_bytes` (the last one shorter), checked.

    Collects PLTE and tRNS into `carried`; every other chunk is skipped in pieces, so that a
    large text chunk costs no memory.
    """
    inflater = zlib.decompressobj()
    pending = bytearray()
    while True:
        kind, length = _chunk_start(handle)
        if kind == b"IEND":
            break
        if kind in _CARRIED:
            if length > 1024:
                raise PngDamaged(f"the {kind.decode()} chunk is too long")
            data = _read_exactly(handle, length)
            _check_crc(handle, kind, data)
            carried.append(chunk(kind, data))
            continue
        crc = zlib.crc32(kind)
        left = length
        while left:
            piece = _read_exactly(handle, min(left, _READ))
            left -= len(piece)
            crc = zlib.crc32(piece, crc)
            while kind == b"IDAT" and piece and not inflater.eof:
                # Bounded inflation: a few bytes of a hostile file may stand for gigabytes.
                pending += _inflate(inflater, piece, band_bytes)
                piece = inflater.unconsumed_tail
                while len(pending) >= band_bytes:
                    yield _take(pending, band_bytes)
        if struct.unpack(">I", _read_exactly(handle, 4))[0] != crc & 0xFFFFFFFF:
            raise PngDamaged(f"the checksum of a {kind.decode('latin-1')} chunk is wrong")
    while not inflater.eof:  # what zlib still holds, in pieces too
        more = _inflate(inflater, inflater.unconsumed_tail, band_bytes)
        if not more:
            break
        pending += more
        while len(pending) >= band_bytes:
            yield _take(pending, band_bytes)
    if pending:
        yield bytes(pending)


def _take(pending: bytearray, size: int) -> bytes:
    """The first `size` bytes of `pending`, taken out of it (copied once)."""
    with memoryview(pending) as view:
        taken = bytes(view[:size])
    del pending[:size]
    return taken


def _inflate(inflater: zlib._Decompress, data: bytes, limit: int) -> bytes:
    try:
        return inflater.decompress(data, limit)
    except zlib.error as exc:
        raise PngDamaged(f"the image data does not inflate ({exc})") from None


def _decode_band(
    header: PngHeader, carried: list[bytes], filtered: bytes, above: bytes | None, rawmode: str
) -> tuple[Image.Image, bytes]:
    """One band, and its last row as raw pixels (what the next band's filters refer to)."""
    from PIL import Image

    count = len(filtered) // (1 + header.width * _LAYOUTS[header.colour_type][0])
    height = count + (above is not None)
    # The rows as a stored (uncompressed) zlib stream; the row above, unfiltered, first: the
    # first row's filter may refer to it.
    stored = zlib.compressobj(0)
    first = stored.compress(b"\x00" + above) if above is not None else b""
    data = b"".join((first, stored.compress(filtered), stored.flush()))
    try:
        if carried:  # a palette or a transparent colour: as Pillow reads them from a PNG
            ihdr = struct.pack(">IIBBBBB", header.width, height, 8, header.colour_type, 0, 0, 0)
            png = SIGNATURE + chunk(b"IHDR", ihdr) + b"".join(carried)
            png += chunk(b"IDAT", data) + chunk(b"IEND", b"")
            with Image.open(io.BytesIO(png), formats=["PNG"]) as opened:
                opened.load()
                band = opened.crop((0, height - count, header.width, height))
        else:  # Pillow's PNG decoder (inflate and unfilter) alone, without a file around it
            band = Image.frombytes(rawmode, (header.width, height), data, "zip", rawmode)
            if above is not None:
                band = band.crop((0, 1, header.width, height))
    except (OSError, SyntaxError, ValueError) as exc:
        raise PngDamaged(f"the image data is damaged ({exc})") from None
    last = band.crop((0, count - 1, header.width, count)).tobytes("raw", rawmode)
    return band, last


class PngWriter:
    """Writes a PNG (RGB or RGBA, 8 bits) to `sink`, band by band from the top."""

    def __init__(
        self, sink: Writable, width: int, height: int, mode: str, icc_profile: bytes | None = None
    ) -> None:
        if mode not in ("RGB", "RGBA"):
            raise ValueError(f"cannot write {mode} as a streamed PNG")
        self.sink = sink
        self.width, self.height, self.mode = width, height, mode
        self.stride = width * (4 if mode == "RGBA" else 3)
        self.rows = 0
        self.above: Image.Image | None = None
        self.deflater = zlib.compressobj(6)
        self.buffer = bytearray()
        colour = 6 if mode == "RGBA" else 2
        sink.write(SIGNATURE)
        sink.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)))
        if icc_profile:  # the source's colours mean what they meant (as Pillow writes it)
            sink.write(chunk(b"iCCP", b"ICC Profile\0\0" + zlib.compress(icc_profile)))

    def write(self, band: Image.Image) -> None:
        from PIL import Image, ImageChops

        if band.mode != self.mode or band.width != self.width:
            raise ValueError("a band of another mode or width")
        if self.rows + band.height > self.height:
            raise ValueError("more rows than the image has")
        # "Up": each byte minus the byte above it, modulo 256 (the row above the first is 0).
        shifted = Image.new(self.mode, band.size, (0,) * len(self.mode))
        if self.above is not None:
            shifted.paste(self.above, (0, 0))
        shifted.paste(band.crop((0, 0, self.width, band.height - 1)), (0, 1))
        raw = ImageChops.subtract_modulo(band, shifted).tobytes()
        self.above = band.crop((0, band.height - 1, self.width, band.height))
        stride = self.stride
        rows = b"".join(_FILTER_UP + raw[at : at + stride] for at in range(0, len(raw), stride))
        self._idat(self.deflater.compress(rows))
        self.rows += band.height

    def close(self) -> None:
        if self.rows != self.height:
            raise ValueError(f"{self.rows} rows written of {self.height}")
        self._idat(self.deflater.flush(), flush=True)
        self.sink.write(chunk(b"IEND", b""))

    def _idat(self, data: bytes, *, flush: bool = False) -> None:
        self.buffer += data
        while len(self.buffer) >= _IDAT_SIZE or (flush and self.buffer):
            self.sink.write(chunk(b"IDAT", _take(self.buffer, _IDAT_SIZE)))


def _chunk_start(handle: IO[bytes]) -> tuple[bytes, int]:
    length, kind = struct.unpack(">I4s", _read_exactly(handle, 8))
    if length > 0x7FFFFFFF:
        raise PngDamaged("a chunk's length is impossible")
    return kind, length


def _read_chunk(handle: IO[bytes]) -> tuple[bytes, bytes]:
    kind, length = _chunk_start(handle)
    if length > 1 << 24:
        raise PngDamaged("the PNG header is damaged")
    data = _read_exactly(handle, length)
    _check_crc(handle, kind, data)
    return kind, data


def _check_crc(handle: IO[bytes], kind: bytes, data: bytes) -> None:
    expected = struct.unpack(">I", _read_exactly(handle, 4))[0]
    if zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF != expected:
        raise PngDamaged(f"the checksum of a {kind.decode('latin-1')} chunk is wrong")


def _read_exactly(handle: IO[bytes], size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise PngDamaged("the file ends early (truncated)")
    return data
