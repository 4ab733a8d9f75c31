"""JPEG a band of rows at a time: an image of any height in the memory of a band.

Pillow encodes whole images only (256 MB for 8192x8192). Each band is encoded by Pillow on its
own, with the same settings (quality, 4:2:0, the standard Huffman tables), and the bands' coded
data are joined with restart markers. A restart marker resets exactly what a new band starts
from (the DC predictions), so the result is one baseline JPEG that any decoder reads, whose
pixels are those of the whole image encoded at once.
"""

from __future__ import annotations

import io
import struct
from typing import TYPE_CHECKING

from runner.deliver.png_stream import Writable

if TYPE_CHECKING:
    from PIL import Image

MCU_ROWS = 16  # 4:2:0 chroma: a band's height is a multiple of 16 (the last one aside)
_MCU_COLUMNS = 16
_MAX_INTERVAL = 0xFFFF
_SOI, _EOI, _SOS, _SOF0 = b"\xff\xd8", b"\xff\xd9", 0xDA, 0xC0


def max_band_rows(width: int) -> int:
    """The tallest band whose restart interval (in 16x16 blocks) a JPEG can state."""
    columns = -(-width // _MCU_COLUMNS)
    return max(MCU_ROWS, _MAX_INTERVAL // columns // MCU_ROWS * MCU_ROWS)


class JpegWriter:
    """Writes an RGB baseline JPEG to `sink`, band by band from the top.

    Every band but the last must have the height of the first, a multiple of 16 rows.
    """

    def __init__(
        self, sink: Writable, width: int, height: int, quality: int, icc_profile: bytes | None
    ) -> None:
        self.sink = sink
        self.width, self.height, self.quality = width, height, quality
        self.icc_profile = icc_profile
        self.rows = 0
        self.band_rows = 0
        self.bands = 0
        self.header: bytes | None = None  # the first band's tables, to check the others by

    def write(self, band: Image.Image) -> None:
        if band.mode != "RGB" or band.width != self.width:
            raise ValueError("a band of another mode or width")
        last = self.rows + band.height == self.height
        if self.bands == 0:
            self.band_rows = band.height
            if band.height % MCU_ROWS and not last:
                raise ValueError(f"bands must be a multiple of {MCU_ROWS} rows high")
        elif band.height != self.band_rows and not (last and band.height < self.band_rows):
            raise ValueError("every band but the last must be as high as the first")
        if self.rows + band.height > self.height:
            raise ValueError("more rows than the image has")
        header, sof_at, scan = _split(self._encode(band))
        same = header[: sof_at + 5] + header[sof_at + 7 :]  # all but the height
        if self.header is None:
            self.header = same
            interval = -(-self.width // _MCU_COLUMNS) * (self.band_rows // MCU_ROWS)
            if interval > _MAX_INTERVAL:
                raise ValueError("bands too high for a restart interval")
            total = header[: sof_at + 5] + struct.pack(">H", self.height) + header[sof_at + 7 :]
            sos = _sos_start(total)
            restart = b"\xff\xdd" + struct.pack(">HH", 4, max(interval, 1))
            self.sink.write(total[:sos] + restart + total[sos:])
        else:
            if same != self.header:
                raise ValueError("a band was encoded with other tables")
            self.sink.write(bytes((0xFF, 0xD0 + (self.bands - 1) % 8)))
        self.sink.write(scan)
        self.bands += 1
        self.rows += band.height

    def close(self) -> None:
        if self.rows != self.height:
            raise ValueError(f"{self.rows} rows written of {self.height}")
        self.sink.write(_EOI)

    def _encode(self, band: Image.Image) -> bytes:
        buffer = io.BytesIO()
        options: dict[str, object] = {"quality": self.quality, "subsampling": 2}
        if self.icc_profile:
            options["icc_profile"] = self.icc_profile
        band.save(buffer, "JPEG", optimize=False, progressive=False, **options)
        return buffer.getvalue()


def _split(data: bytes) -> tuple[bytes, int, bytes]:
    """A one-scan baseline JPEG as (its markers up to and with the scan header, where its SOF0
    segment starts, the coded data without EOI)."""
    if not (data.startswith(_SOI) and data.endswith(_EOI)):
        raise ValueError("not a whole JPEG")
    at = 2
    sof_at = -1
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise ValueError("a JPEG marker was expected")
        marker = data[at + 1]
        length = struct.unpack(">H", data[at + 2 : at + 4])[0]
        if marker == _SOF0:
            sof_at = at
        elif 0xC1 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            raise ValueError("not a baseline JPEG")
        elif marker == 0xDD:
            raise ValueError("the JPEG already has restart markers")
        at += 2 + length
        if marker == _SOS:
            if sof_at < 0:
                raise ValueError("a JPEG without a frame header")
            return data[:at], sof_at, data[at:-2]
    raise ValueError("a JPEG without a scan")


def _sos_start(header: bytes) -> int:
    at = 2
    while header[at + 1] != _SOS:
        at += 2 + struct.unpack(">H", header[at + 2 : at + 4])[0]
    return at
