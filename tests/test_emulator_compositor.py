"""The emulator's local, deterministic stand-in for background replacement."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw, ImageStat

from runner.emulator import compositor

from .emulator_support import decode, studio_photo

GREEN = (20, 160, 40)


def _render(source: bytes, prompt: str = "on a beach", **kwargs: object) -> Image.Image:
    options: dict = {"size": "1024x1024", "output_format": "png", "compression": 100}
    options.update(kwargs)
    data = compositor.replace_background(compositor.load_subject(source), prompt=prompt, **options)
    return decode(data)


def _border_mean(image: Image.Image) -> tuple[float, ...]:
    width, height = image.size
    band = image.crop((0, 0, width, height // 10))  # the top strip: background only
    return tuple(ImageStat.Stat(band.convert("RGB")).mean)


def _cutout_png() -> bytes:
    image = Image.new("RGBA", (300, 300), (255, 255, 255, 0))  # transparent (white) backdrop
    ImageDraw.Draw(image).ellipse((75, 75, 225, 225), fill=(30, 60, 220, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_same_inputs_give_identical_bytes(fmt: str) -> None:
    subject = compositor.load_subject(studio_photo())
    options = {"prompt": "spring meadow", "size": "1024x1536", "output_format": fmt}
    first = compositor.replace_background(subject, compression=70, **options)
    again = compositor.replace_background(
        compositor.load_subject(studio_photo()), compression=70, **options
    )
    assert first == again
    other_variant = compositor.replace_background(subject, compression=70, variant=1, **options)
    assert other_variant != first


def test_border_colour_subject_survives_and_backdrop_is_replaced() -> None:
    result = _render(studio_photo(backdrop=(250, 250, 250), subject=GREEN), "on a red table")
    red, green, blue = result.getpixel((512, 512))[:3]
    assert abs(red - GREEN[0]) < 12 and abs(green - GREEN[1]) < 12 and abs(blue - GREEN[2]) < 12
    corner = result.getpixel((20, 20))[:3]
    assert sum(abs(c - 250) for c in corner) > 120  # the white studio backdrop is gone


def test_subject_is_scaled_to_about_seventy_percent() -> None:
    # A wide subject: its width is what must fit 70% of a square canvas.
    source = Image.new("RGB", (600, 400), (255, 255, 255))
    ImageDraw.Draw(source).rectangle((100, 150, 499, 249), fill=GREEN)
    buffer = io.BytesIO()
    source.save(buffer, "PNG")
    result = _render(buffer.getvalue(), "on a blue rug")
    xs = [x for x in range(1024) if _near(result.getpixel((x, 512)), GREEN)]
    width = (max(xs) - min(xs) + 1) / 1024
    assert 0.66 <= width <= 0.71
    assert abs((max(xs) + min(xs)) / 2 - 512) < 8  # centred


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 20) -> bool:
    return all(abs(p - c) <= tolerance for p, c in zip(pixel, colour, strict=False))


def test_alpha_subject_is_cut_out_with_its_alpha() -> None:
    result = _render(_cutout_png(), "in a green forest", size="1536x1024")
    assert result.size == (1536, 1024)
    assert _near(result.getpixel((768, 512)), (30, 60, 220), 10)
    background = compositor.paint_background("in a green forest", 1536, 1024)
    assert result.getpixel((40, 40)) == background.getpixel((40, 40))


def test_opaque_alpha_channel_falls_back_to_the_border_colour() -> None:
    image = Image.open(io.BytesIO(studio_photo())).convert("RGBA")  # alpha 255 everywhere
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    result = _render(buffer.getvalue(), "on a red table")
    assert _near(result.getpixel((512, 512)), GREEN, 12)
    assert sum(abs(c - 250) for c in result.getpixel((20, 20))[:3]) > 120


@pytest.mark.parametrize(
    ("prompt", "channel"),
    [("a red velvet backdrop", 0), ("lush green leaves", 1), ("deep blue water", 2)],
)
def test_colour_words_pick_the_palette(prompt: str, channel: int) -> None:
    mean = _border_mean(_render(studio_photo(), prompt))
    others = [mean[i] for i in range(3) if i != channel]
    assert all(mean[channel] > other + 30 for other in others), mean


def test_two_colour_words_make_a_gradient_from_the_first_to_the_second() -> None:
    background = compositor.paint_background("yellow fading into navy", 512, 512)
    top = ImageStat.Stat(background.crop((200, 60, 312, 100))).mean
    bottom = ImageStat.Stat(background.crop((200, 420, 312, 460))).mean
    assert top[0] > top[2] and bottom[2] > bottom[0]


def test_prompts_without_colour_words_get_a_palette_from_their_hash() -> None:
    one = compositor.palette_for_prompt("a cosy kitchen")
    assert compositor.palette_for_prompt("a cosy kitchen") == one
    assert compositor.palette_for_prompt("a sunny terrace") != one


def test_plain_image_without_a_subject_is_kept_whole() -> None:
    plain = Image.new("RGB", (200, 100), (250, 250, 250))
    subject = compositor.extract_subject(plain)
    assert subject.size == (200, 100)
    assert subject.getchannel("A").getextrema() == (255, 255)


def test_large_sources_are_shrunk_before_cutting_out() -> None:
    big = studio_photo("JPEG", size=(3000, 2000))
    subject = compositor.load_subject(big)
    assert max(subject.size) <= compositor.MAX_WORKING_SIDE


def test_jpeg_compression_is_the_quality() -> None:
    subject = compositor.load_subject(studio_photo())
    options = {"prompt": "on a shelf", "size": "1024x1024", "output_format": "jpeg"}
    low = compositor.replace_background(subject, compression=10, **options)
    high = compositor.replace_background(subject, compression=95, **options)
    assert len(low) < len(high)


def test_placeholder_subject_is_a_cut_out() -> None:
    subject = compositor.placeholder_subject("https://cdn.example.com/mug.png")
    assert subject.mode == "RGBA"
    assert subject.getpixel((0, 0))[3] == 0 and subject.getpixel((180, 400))[3] == 255


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_png_result_holds_exactly_the_pixels_composed(mode: str) -> None:
    # The emulator writes its PNGs itself (one filter for every row): lossless all the same,
    # whole to Pillow's structural check and to export's band-at-a-time reader.
    from runner.deliver.png_stream import check_chunks, png_bands

    subject = compositor.load_subject(studio_photo())
    image = compositor.compose(subject, "spring meadow", 640, 400, variant=1).convert(mode)
    if mode == "RGBA":  # a gradient of transparency, so that alpha's rows are filtered too
        image.putalpha(Image.linear_gradient("L").resize(image.size))
    data = compositor.encode(image, "png", 100)
    with Image.open(io.BytesIO(data)) as opened:
        opened.verify()
    decoded = decode(data)
    assert (decoded.format, decoded.mode, decoded.size) == ("PNG", mode, image.size)
    assert decoded.tobytes() == image.tobytes()
    check_chunks(io.BytesIO(data))
    bands = list(png_bands(io.BytesIO(data), 37))
    assert b"".join(band.tobytes() for band in bands) == image.tobytes()
