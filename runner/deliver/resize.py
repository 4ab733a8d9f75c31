"""Resize a generated image to a channel's size and encode it, locally with Pillow, in bands.

An image is never whole in memory unless it is small: the source is read a band of rows at a
time (PNG, runner/deliver/png_stream.py) or decoded already reduced (JPEG's draft mode), the
channel's image is resized a band at a time (Pillow resizes a box of the source, so bands join
without seams), and each band is encoded as it comes (PNG and JPEG). WebP is encoded whole, so
a WebP delivery has a size limit. Deterministic for the same input and Pillow version (no
timestamps, no metadata but the source's colour profile).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from runner.deliver.jpeg_strips import MCU_ROWS, JpegWriter, max_band_rows
from runner.deliver.png_stream import (
    PngDamaged,
    PngWriter,
    Writable,
    check_chunks,
    png_bands,
    read_header,
)
from runner.recipe.model import Channel

if TYPE_CHECKING:
    from PIL import Image

FORMATS = ("jpeg", "png", "webp")
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
DEFAULT_QUALITY = 90
# What one export may hold in memory, in pixels of 4 bytes (the sum stays under 300 MB): a band
# of the image being made...
BAND_PIXELS = 1 << 20
# ... a source decoded whole (a JPEG even at its smallest draft, a WebP, an interlaced or
# 16-bit PNG: 48 MB, and a WebP's decoder 4 times that while it runs), and a WebP made whole
# (20 MB, and libwebp's own buffers: 6 bytes a pixel for a photo, 40 for noise with alpha).
# The API's images are 1.6 megapixels at most.
MAX_WHOLE_PIXELS = 12_000_000
MAX_WEBP_PIXELS = 5_000_000  # 2560x1920: libwebp takes up to 40 bytes a pixel (noise, alpha)
# Larger sources are refused before anything is read: Pillow's own decompression-bomb limit.
MAX_SOURCE_PIXELS = 89_478_485
_LANCZOS_SUPPORT = 3.0
_DRAFT_GAP = 2


class SourceDamaged(Exception):
    """A source that is not a whole image of its kind (truncated, not an image at all)."""


class SourceTooLarge(Exception):
    """A source or a delivery larger than export makes in bounded memory; `webp`: the WebP
    made is the one too large (PNG or JPEG would do)."""

    def __init__(self, message: str, *, webp: bool = False) -> None:
        super().__init__(message)
        self.webp = webp


@dataclass(frozen=True)
class SourceImage:
    """What the header of a source image says."""

    format: str  # "png", "jpeg" or "webp"
    width: int
    height: int
    alpha: bool  # has transparency (an alpha channel, or a transparent colour)
    streamable: bool  # a PNG read a band at a time
    icc_profile: bytes | None


@dataclass(frozen=True)
class Size:
    width: int
    height: int


OpenSource = Callable[[], IO[bytes]]


def format_of(path: str) -> str:
    """The export format of a generated file, from its extension."""
    suffix = path.rsplit(".", 1)[-1].lower()
    return "jpeg" if suffix in ("jpg", "jpeg") else suffix if suffix in FORMATS else "png"


def inspect_source(open_source: OpenSource) -> SourceImage:
    """The source's header, read without decoding its pixels; SourceDamaged, SourceTooLarge."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open_source() as handle, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit below
            with Image.open(handle, formats=list(_PIL_FORMATS.values())) as opened:
                kind = opened.format or ""
                width, height = opened.size
                alpha = "A" in opened.getbands() or "transparency" in opened.info
                icc = opened.info.get("icc_profile") or None
            streamable = False
            if kind == "PNG":
                handle.seek(0)
                streamable = read_header(handle).streamable
    except UnidentifiedImageError:
        raise SourceDamaged("it is not a PNG, JPEG or WebP image") from None
    except Image.DecompressionBombError:  # more than twice Pillow's limit, said before ours
        raise SourceTooLarge(_too_many_pixels("its header says")) from None
    except (OSError, SyntaxError, ValueError, EOFError, PngDamaged) as exc:
        raise SourceDamaged(f"it is a damaged image ({_said(exc)})") from None
    if width * height > MAX_SOURCE_PIXELS:
        raise SourceTooLarge(_too_many_pixels(f"it is {width}x{height} pixels"))
    fmt = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}[kind]
    return SourceImage(
        fmt, width, height, alpha, streamable, icc if isinstance(icc, bytes) else None
    )


def channel_size(source: SourceImage, channel: Channel | None) -> Size:
    return Size(source.width, source.height) if channel is None else Size(*_canvas(channel))


def check_renderable(source: SourceImage, channel: Channel | None, fmt: str) -> None:
    """SourceTooLarge when this rendering would not fit export's memory; checked before any."""
    size = channel_size(source, channel)
    if fmt == "webp" and size.width * size.height > MAX_WEBP_PIXELS:
        raise SourceTooLarge(
            f"WebP is made in one piece, and {size.width}x{size.height} is more than export "
            f"makes as WebP ({MAX_WEBP_PIXELS / 1e6:.1f} megapixels)",
            webp=True,
        )
    if source.streamable:
        return
    scale = 1
    if source.format == "jpeg" and channel is not None:
        scale = _draft_scale(source, channel)
    if _pixels(source, scale) > MAX_WHOLE_PIXELS:
        raise SourceTooLarge(
            f"it is {source.width}x{source.height} pixels, and a {source.format.upper()} that "
            f"large is decoded whole: more than export decodes ({MAX_WHOLE_PIXELS / 1e6:.0f} "
            "megapixels)"
        )


def check_complete(open_source: OpenSource, source: SourceImage) -> None:
    """SourceDamaged when the source is cut short or its data does not add up.

    Cheap, and without decoding it whole: a PNG's chunks and their checksums, a JPEG decoded
    at an eighth of its size (every coded block is read), a WebP's length against its file's.
    """
    from PIL import Image

    with open_source() as handle:
        try:
            if source.format == "png":
                check_chunks(handle)
            elif source.format == "jpeg":
                with Image.open(handle, formats=["JPEG"]) as opened:
                    opened.draft("RGB", (source.width // 8, source.height // 8))
                    opened.load()
            else:
                riff = handle.read(12)
                handle.seek(0, 2)
                if len(riff) < 12 or int.from_bytes(riff[4:8], "little") + 8 > handle.tell():
                    raise SourceDamaged("it is a damaged WebP image (it ends early)")
        except PngDamaged as exc:
            raise SourceDamaged(f"it is a damaged PNG image ({exc})") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            name = source.format.upper()
            raise SourceDamaged(f"it is a damaged {name} image ({_said(exc)})") from None


def render_channel(
    open_source: OpenSource,
    source: SourceImage,
    channel: Channel | None,
    fmt: str,
    quality: int,
    sink: Writable,
) -> Size:
    """Write the delivered image for `channel` (None: the source's size) as `fmt` to `sink`.

    Raises SourceDamaged when the source turns out to be damaged while it is read.
    """
    size = channel_size(source, channel)
    background = channel.background if channel is not None else (255, 255, 255)
    mode = "RGBA" if source.alpha and fmt != "jpeg" else "RGB"
    with open_source() as handle:
        bands = _output_bands(handle, source, channel, size, fmt, mode, background)
        if fmt == "png":
            png = PngWriter(sink, size.width, size.height, mode, source.icc_profile)
            for band in bands:
                png.write(band)
            png.close()
        elif fmt == "jpeg":
            jpeg = JpegWriter(sink, size.width, size.height, quality, source.icc_profile)
            for band in bands:
                jpeg.write(band)
            jpeg.close()
        else:
            _write_whole(bands, size, mode, sink, quality, source.icc_profile)
    return size


def _write_whole(
    bands: Iterator[Image.Image],
    size: Size,
    mode: str,
    sink: Writable,
    quality: int,
    icc_profile: bytes | None,
) -> None:
    from PIL import Image

    image = None  # made once the source is decoded: not both copies of it beside this one
    top = 0
    for band in bands:
        if image is None:
            image = Image.new(mode, (size.width, size.height))
        image.paste(band, (0, top))
        top += band.height
    if image is None:
        raise SourceDamaged("it has no pixels")
    options: dict[str, object] = {"quality": quality}
    if icc_profile:
        options["icc_profile"] = icc_profile
    buffer = io.BytesIO()  # the encoded file: small next to the pixels just made
    image.save(buffer, "WEBP", **options)
    sink.write(buffer.getvalue())


def _output_bands(
    handle: IO[bytes],
    source: SourceImage,
    channel: Channel | None,
    size: Size,
    fmt: str,
    mode: str,
    background: tuple[int, int, int],
) -> Iterator[Image.Image]:
    """The delivered image in bands from the top, in `mode` (RGB or RGBA)."""
    from PIL import Image

    # Resized premultiplied, as Pillow does for RGBA, so that transparent pixels' colours do
    # not bleed; converted per source band, not per resize.
    working = "RGBa" if source.alpha else "RGB"
    scale = _draft_scale(source, channel) if channel and source.format == "jpeg" else 1
    known = source.height if source.streamable else None
    rows = _StreamedRows(_source_bands(handle, source, scale, working), working, known)
    if channel is None:
        placement = _Placement((0.0, 0.0, float(rows.width), float(rows.height)), size, 0, 0)
    else:
        placement = _place(rows.width, rows.height, channel)
    # A band of the delivered image, and the source rows it is made from, each about
    # BAND_PIXELS: a source 8 times as tall as the delivery gives bands 8 times thinner.
    source_rows = (placement.box[3] - placement.box[1]) / placement.size.height
    pixels = max(size.width, source_rows * rows.width)
    band_rows = max(MCU_ROWS, int(BAND_PIXELS / pixels) // MCU_ROWS * MCU_ROWS)
    band_rows = min(band_rows, max_band_rows(size.width))
    fill = (*background, 255) if working == "RGBa" else background  # opaque padding
    for top in range(0, size.height, band_rows):
        height = min(band_rows, size.height - top)
        band = Image.new(working, (size.width, height), fill)
        piece = placement.piece(top, height, rows.height)
        if piece is not None:
            first, last, box, piece_size, at = piece
            window, offset = rows.window(first, last)
            shifted = (box[0], box[1] - offset, box[2], min(box[3] - offset, window.height))
            if piece_size == (box[2] - box[0], box[3] - box[1]) and all(
                value.is_integer() for value in shifted
            ):  # the same size: the pixels as they are
                left, upper, right, lower = (int(value) for value in shifted)
                resized = window.crop((left, upper, right, lower))
            else:
                resized = window.resize(piece_size, Image.Resampling.LANCZOS, box=shifted)
            band.paste(resized, (placement.left, at - top))
        yield _delivered_mode(band, mode, background)


def _delivered_mode(band: Image.Image, mode: str, background: tuple[int, int, int]) -> Image.Image:
    from PIL import Image

    if band.mode == mode:
        return band
    rgba = band.convert("RGBA")  # from premultiplied
    if mode == "RGBA":
        return rgba
    # JPEG has no transparency: flatten onto the channel's background (white by default).
    flat = Image.new("RGB", band.size, background)
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


@dataclass(frozen=True)
class _Placement:
    """Where the source's `box` lands in the delivered image: resized to `size`, at (left, top)."""

    box: tuple[float, float, float, float]
    size: Size
    left: int
    top: int

    def piece(
        self, top: int, height: int, source_height: int
    ) -> tuple[int, int, tuple[float, float, float, float], tuple[int, int], int] | None:
        """For the delivered rows [top, top + height): the source rows to have at hand, the
        source box, the size it is resized to, and the delivered row it starts at."""
        first = max(top, self.top)
        last = min(top + height, self.top + self.size.height)
        if first >= last:
            return None
        x0, y0, x1, y1 = self.box
        scale = (y1 - y0) / self.size.height
        box = (x0, y0 + (first - self.top) * scale, x1, y0 + (last - self.top) * scale)
        support = _LANCZOS_SUPPORT * max(scale, 1.0) + 2
        need_first = max(0, int(box[1] - support))
        need_last = min(source_height, int(box[3] + support) + 1)
        return need_first, need_last, box, (self.size.width, last - first), first


def _canvas(channel: Channel) -> tuple[int, int]:
    return channel.width, channel.height


def _place(width: int, height: int, channel: Channel) -> _Placement:
    """The geometry of ImageOps.fit (cover) and ImageOps.pad (contain), centred."""
    target_w, target_h = _canvas(channel)
    if channel.fit == "cover":
        ratio, target = width / height, target_w / target_h
        if ratio == target:
            crop_w, crop_h = float(width), float(height)
        elif ratio >= target:
            crop_w, crop_h = target * height, float(height)
        else:
            crop_w, crop_h = float(width), width / target
        left, top = (width - crop_w) * 0.5, (height - crop_h) * 0.5
        return _Placement((left, top, left + crop_w, top + crop_h), Size(target_w, target_h), 0, 0)
    inner_w, inner_h = target_w, target_h
    if width / height != target_w / target_h:
        if width / height > target_w / target_h:
            inner_h = round(height / width * target_w)
        else:
            inner_w = round(width / height * target_h)
    return _Placement(
        (0.0, 0.0, float(width), float(height)),
        Size(max(inner_w, 1), max(inner_h, 1)),
        round((target_w - inner_w) * 0.5),
        round((target_h - inner_h) * 0.5),
    )


def _draft_scale(source: SourceImage, channel: Channel) -> int:
    """How much smaller (1, 2, 4 or 8) a JPEG may be decoded and still give the channel's
    size from the part of it the channel shows."""
    placement = _place(source.width, source.height, channel)
    x0, y0, x1, y1 = placement.box
    needed = max(placement.size.width / (x1 - x0), placement.size.height / (y1 - y0))
    # Decoded at twice the size needed at least where that fits in memory, as Image.thumbnail
    # does (the resize then gives what it gives from the whole image); else at the size needed.
    scale = 1
    while scale < 8 and (
        needed * scale * 2 * _DRAFT_GAP <= 1
        or (needed * scale * 2 <= 1 and _pixels(source, scale) > MAX_WHOLE_PIXELS)
    ):
        scale *= 2
    return scale


def _pixels(source: SourceImage, scale: int) -> int:
    """The pixels of the source decoded `scale` times smaller."""
    return -(-source.width // scale) * -(-source.height // scale)


def _source_bands(
    handle: IO[bytes], source: SourceImage, scale: int, mode: str
) -> Iterator[Image.Image]:
    """The source in bands from the top, in the working `mode`: a PNG as it is read, anything
    else decoded whole (a JPEG reduced `scale` times by its decoder). SourceDamaged."""
    from PIL import Image

    try:
        if source.streamable:
            rows = max(1, BAND_PIXELS // source.width)
            for band in png_bands(handle, rows):
                yield _convert(band, mode)
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(handle, formats=[_PIL_FORMATS[source.format]])
            if scale > 1:
                opened.draft("RGB", (source.width // scale, source.height // scale))
            opened.load()
        whole = _convert(opened, mode)
        if whole is not opened:
            opened.close()  # one copy of the pixels at a time
        del opened
    except PngDamaged as exc:
        raise SourceDamaged(f"it is a damaged PNG image ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        name = source.format.upper()
        raise SourceDamaged(f"it is a damaged {name} image ({_said(exc)})") from None
    yield whole


class _StreamedRows:
    """A window onto the source's rows, moved down as the delivered image is made: it holds
    the rows asked for last (and the rest of the band they came in). A source decoded whole is
    one band, held as it is."""

    def __init__(self, bands: Iterator[Image.Image], mode: str, height: int | None) -> None:
        self.bands = bands
        self.mode = mode
        self.top = 0  # the source row of the window's first row
        first = next(self.bands, None)
        if first is None:
            raise SourceDamaged("it has no pixels")
        self.image = first
        self.streaming = height is not None
        # The decoded source's size (a JPEG decoded in draft is smaller than its header says).
        self.width = first.width
        self.height = first.height if height is None else height

    def window(self, first: int, last: int) -> tuple[Image.Image, int]:
        """An image holding the source rows [first, last), and the source row of its top."""
        from PIL import Image

        if not self.streaming:
            return self.image, 0
        while first >= self.top + self.image.height:  # a whole band above the rows asked
            band = next(self.bands, None)
            if band is None:
                raise SourceDamaged("its image data ends early")
            self.top += self.image.height
            self.image = band
        if first > self.top:  # rows above are never needed again
            self.image = self.image.crop((0, first - self.top, self.width, self.image.height))
            self.top = first
        while self.top + self.image.height < last:
            band = next(self.bands, None)
            if band is None:
                raise SourceDamaged("its image data ends early")
            joined = Image.new(self.mode, (self.width, self.image.height + band.height))
            joined.paste(self.image, (0, 0))
            joined.paste(band, (0, self.image.height))
            self.image = joined
        return self.image, self.top


def _convert(band: Image.Image, mode: str) -> Image.Image:
    """A source band in the working mode: RGB, or RGBa (premultiplied) when it has alpha."""
    if band.mode == mode:
        return band
    if mode == "RGBa" and band.mode != "RGBA":
        band = band.convert("RGBA")  # P, LA, L or RGB with a transparent colour
    return band.convert(mode)


def _too_many_pixels(what: str) -> str:
    return f"{what}, more than export reads ({MAX_SOURCE_PIXELS / 1e6:.0f} megapixels)"


def _said(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
