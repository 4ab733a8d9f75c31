"""Export's images a band at a time: PNG read and written in bands, JPEG joined from bands, and
the channel renderings compared with Pillow's whole-image ImageOps.fit and ImageOps.pad."""

from __future__ import annotations

import functools
import io
import random
import struct
import tracemalloc
import zlib

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageOps, ImageStat

from runner.deliver import resize
from runner.deliver.jpeg_strips import JpegWriter
from runner.deliver.png_stream import PngDamaged, PngWriter, check_chunks, png_bands
from runner.recipe.model import Channel


def photo(size: tuple[int, int], alpha: bool = False) -> Image.Image:
    """A gradient with a shape and some noise: detail in both directions."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    noise = Image.frombytes("L", size, random.Random(size[0]).randbytes(size[0] * size[1]))
    image = Image.blend(image, noise.convert("RGB"), 0.2)
    ImageDraw.Draw(image).ellipse(
        (size[0] // 5, size[1] // 5, size[0] * 4 // 5, size[1] * 4 // 5), (230, 200, 40)
    )
    if alpha:
        image.putalpha(Image.linear_gradient("L").rotate(90).resize(size))
    return image


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


def largest_difference(one: Image.Image, other: Image.Image) -> int:
    return max(high for _, high in ImageChops.difference(one, other).getextrema())


SOURCES = {
    "L": lambda: photo((97, 61)).convert("L"),
    "RGB": lambda: photo((97, 61)),
    "RGBA": lambda: photo((97, 61), alpha=True),
    "LA": lambda: photo((97, 61), alpha=True).convert("LA"),
    "P": lambda: photo((97, 61)).convert("P"),
}


@pytest.mark.parametrize("mode", sorted(SOURCES))
def test_a_png_read_in_bands_is_the_png_read_whole(mode):
    image = SOURCES[mode]()
    data = encoded(image, "PNG")  # Pillow picks a filter per row: every filter is read
    bands = list(png_bands(io.BytesIO(data), 7))
    assert [band.height for band in bands] == [7] * 8 + [5]
    joined = Image.new("RGBA", image.size)
    for number, band in enumerate(bands):
        joined.paste(band.convert("RGBA"), (0, 7 * number))
    assert largest_difference(joined, decoded(data).convert("RGBA")) == 0


def test_a_png_with_a_transparent_colour_keeps_it_in_every_band():
    image = photo((40, 30)).convert("P")
    data = encoded(image, "PNG", transparency=3)
    for band in png_bands(io.BytesIO(data), 4):
        assert band.info.get("transparency") == 3


def test_a_png_cut_short_or_with_a_wrong_checksum_is_damaged():
    data = encoded(photo((64, 48)), "PNG")
    with pytest.raises(PngDamaged, match="ends early"):
        list(png_bands(io.BytesIO(data[: len(data) // 2]), 8))
    with pytest.raises(PngDamaged, match="ends early"):
        check_chunks(io.BytesIO(data[: len(data) // 2]))
    flipped = bytearray(data)
    flipped[60] ^= 0xFF  # inside the first IDAT chunk's data
    with pytest.raises(PngDamaged, match="checksum"):
        check_chunks(io.BytesIO(bytes(flipped)))
    check_chunks(io.BytesIO(data))


def test_a_png_whose_data_does_not_inflate_is_damaged_though_its_checksums_hold():
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
    data += _png_chunk(b"IDAT", b"\x78\x9c not deflate at all") + _png_chunk(b"IEND", b"")
    check_chunks(io.BytesIO(data))  # every chunk whole: only decoding tells
    with pytest.raises(PngDamaged, match="does not inflate"):
        list(png_bands(io.BytesIO(data), 2))


def test_a_png_whose_data_inflates_beyond_its_rows_yields_only_its_rows():
    """A few kilobytes that inflate to 100 MB: inflated a band at a time, the rest skipped."""
    width, height = 16, 4
    rows = b"".join(b"\0" + bytes(range(48)) for _ in range(height))
    chunk = _png_chunk
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    data += chunk(b"IDAT", zeros_after(rows, 100)) + chunk(b"IEND", b"")
    assert len(data) < 200_000
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        bands = list(png_bands(io.BytesIO(data), 2))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        if not tracing:
            tracemalloc.stop()
    assert [band.size for band in bands] == [(16, 2), (16, 2)]
    assert peak < 10 << 20  # not the 100 MB: a band's worth inflated at a time


def zeros_after(data: bytes, mib: int) -> bytes:
    """A zlib stream of `data` and `mib` MiB of zeros, made without deflating them all: one
    MiB of zeros is deflated once and its stream repeated (each copy ends in a full flush, so
    it refers to nothing before it), the checksum taken over every byte."""
    zeros = bytes(1 << 20)
    deflater = zlib.compressobj(9)
    first = deflater.compress(data) + deflater.flush(zlib.Z_FULL_FLUSH)  # with zlib's header
    again = deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH)
    assert deflater.compress(zeros) + deflater.flush(zlib.Z_FULL_FLUSH) == again
    checksum = zlib.adler32(data)
    for _ in range(mib):
        checksum = zlib.adler32(zeros, checksum)
    end = deflater.flush()[:-4] + checksum.to_bytes(4, "big")  # the last block, our checksum
    stream = first + again * mib + end
    assert len(zlib.decompressobj().decompress(stream, 1 << 20)) == 1 << 20  # it inflates
    return stream


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_png_written_in_bands_is_the_image(mode):
    image = photo((301, 77), alpha=mode == "RGBA")
    sink = io.BytesIO()
    writer = PngWriter(sink, 301, 77, mode, icc_profile=b"not really a profile")
    for top in range(0, 77, 16):
        writer.write(image.crop((0, top, 301, min(top + 16, 77))))
    writer.close()
    back = decoded(sink.getvalue())
    assert back.mode == mode and largest_difference(back, image) == 0
    assert back.info["icc_profile"] == b"not really a profile"


@pytest.mark.parametrize("size", [(1080, 1350), (97, 33), (8, 8)])
def test_a_jpeg_joined_from_bands_decodes_to_the_whole_image_encoded_at_once(size):
    image = photo(size)
    sink = io.BytesIO()
    writer = JpegWriter(sink, *size, 85, None)
    for top in range(0, size[1], 32):
        writer.write(image.crop((0, top, size[0], min(top + 32, size[1]))))
    writer.close()
    whole = encoded(image, "JPEG", quality=85, subsampling=2)
    assert largest_difference(decoded(sink.getvalue()), decoded(whole)) == 0
    with Image.open(io.BytesIO(sink.getvalue())) as opened:
        assert (opened.format, opened.size, opened.mode) == ("JPEG", size, "RGB")


def test_jpeg_bands_must_be_whole_blocks_high():
    with pytest.raises(ValueError, match="multiple of 16"):
        JpegWriter(io.BytesIO(), 64, 64, 90, None).write(photo((64, 20)))


def opener(data: bytes) -> resize.OpenSource:
    return lambda: io.BytesIO(data)


CHANNELS = [
    Channel("portrait", 540, 675),
    Channel("story", 540, 960, "contain", (0, 0, 0)),
    Channel("wide", 1000, 250, "contain"),
    Channel("large", 1500, 1000),
]


@functools.cache
def channel_source(source_format: str) -> bytes:
    """The source every channel is made from, encoded once per format (not once per case)."""
    return encoded(photo((768, 512)), source_format)


@pytest.mark.parametrize("source_format", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
def test_a_channel_made_in_bands_is_what_pillow_makes_whole(source_format, channel):
    """Resized a box of the source per band, the bands join without seams: on average within a
    quarter of a level of ImageOps.fit (cover) and ImageOps.pad (contain). A few pixels of a
    sharp source differ more: Pillow rounds between its two passes, and a band is a
    different pair of passes than the whole image."""
    data = channel_source(source_format)
    source = resize.inspect_source(opener(data))
    sink = io.BytesIO()
    size = resize.render_channel(opener(data), source, channel, "png", 90, sink)
    made = decoded(sink.getvalue())
    assert made.size == (size.width, size.height) == (channel.width, channel.height)
    whole = decoded(data)
    target = (channel.width, channel.height)
    if channel.fit == "cover":
        expected = ImageOps.fit(whole, target, Image.Resampling.LANCZOS)
    else:
        expected = ImageOps.pad(whole, target, Image.Resampling.LANCZOS, color=channel.background)
    assert largest_difference(made, expected) <= 20
    assert max(ImageStat.Stat(ImageChops.difference(made, expected)).mean) < 0.25


def test_a_transparent_source_keeps_its_alpha_in_png_and_is_flattened_for_jpeg():
    data = encoded(photo((600, 400), alpha=True), "PNG")
    source = resize.inspect_source(opener(data))
    assert source.alpha and source.streamable
    channel = Channel("square", 300, 300, "contain", (0, 0, 255))
    png = io.BytesIO()
    resize.render_channel(opener(data), source, channel, "png", 90, png)
    made = decoded(png.getvalue())
    assert made.mode == "RGBA"
    assert made.getpixel((150, 5)) == (0, 0, 255, 255)  # padding: the background, opaque
    jpeg = io.BytesIO()
    resize.render_channel(opener(data), source, channel, "jpeg", 90, jpeg)
    assert decoded(jpeg.getvalue()).mode == "RGB"


def test_a_crop_below_the_first_bands_of_a_tall_png_skips_them(monkeypatch):
    """A tall PNG made into a wide channel: the rows the crop shows start bands below the first
    (a 1024x3072 source for a 1920x1080 channel, at BAND_PIXELS; here at a smaller band)."""
    monkeypatch.setattr(resize, "BAND_PIXELS", 64 * 32)  # bands of 32 rows of the source
    data = encoded(photo((64, 400)), "PNG")
    source = resize.inspect_source(opener(data))
    assert source.streamable
    channel = Channel("banner", 100, 20)  # rows 193.6 to 206.4 of the source: the 7th band
    sink = io.BytesIO()
    resize.render_channel(opener(data), source, channel, "png", 90, sink)
    expected = ImageOps.fit(decoded(data), (100, 20), Image.Resampling.LANCZOS)
    made = decoded(sink.getvalue())
    assert made.size == (100, 20)
    assert max(ImageStat.Stat(ImageChops.difference(made, expected)).mean) < 0.25


def test_a_large_jpeg_is_decoded_reduced_and_still_matches():
    data = encoded(photo((4000, 3000)), "JPEG", quality=92)
    source = resize.inspect_source(opener(data))
    channel = Channel("thumb", 400, 300)
    assert resize._draft_scale(source, channel) == 4  # decoded at 1000x750: twice what is needed
    sink = io.BytesIO()
    resize.render_channel(opener(data), source, channel, "png", 90, sink)
    expected = ImageOps.fit(decoded(data), (400, 300), Image.Resampling.LANCZOS)
    assert max(ImageStat.Stat(ImageChops.difference(decoded(sink.getvalue()), expected)).mean) < 2


def test_damaged_and_oversized_sources_are_told_before_anything_is_made():
    png = encoded(photo((64, 48)), "PNG")
    jpeg = encoded(photo((64, 48)), "JPEG")
    webp = encoded(photo((64, 48)), "WEBP")
    for data in (png[: len(png) - 30], jpeg[: len(jpeg) // 2], webp[: len(webp) // 2]):
        with pytest.raises(resize.SourceDamaged, match="damaged"):
            resize.check_complete(opener(data), resize.inspect_source(opener(data)))
    with pytest.raises(resize.SourceDamaged, match="not a PNG, JPEG or WebP image"):
        resize.inspect_source(opener(b"version https://git-lfs.github.com/spec/v1\n"))
    header = b"\x89PNG\r\n\x1a\n" + _png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    )
    with pytest.raises(resize.SourceTooLarge, match="more than export reads"):
        resize.inspect_source(opener(header + _png_chunk(b"IEND", b"")))
    small = resize.inspect_source(opener(png))
    with pytest.raises(resize.SourceTooLarge, match="WebP is made in one piece"):
        resize.check_renderable(small, Channel("poster", 8192, 8192), "webp")
    resize.check_renderable(small, Channel("poster", 8192, 8192), "png")
