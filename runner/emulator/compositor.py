"""A deterministic, local stand-in for the background replacer. An offline rehearsal, not AI.

The subject is cut out with the source's alpha channel when it has one, or else by removing the
pixels close to the dominant colour of the image's border (a studio backdrop). It is scaled to
fit about 70% of the canvas, centred over a soft shadow, and composited onto a background
painted from the prompt: colour words in the prompt ("red", "teal", ...) pick the palette,
otherwise a hash of the prompt does. A vertical gradient, a few blurred discs and a vignette
make it look like a backdrop. The same inputs always give the same bytes.

Each variant after the first (another image of the same request, as a real generator paints)
is arranged differently, so that two takes can be told apart at a glance: the palette's hue
turned, the gradient in another direction, the subject smaller and off centre.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from runner.api.limits import PIL_FORMATS
from runner.png_chunks import SIGNATURE, chunk

Rgb = tuple[int, int, int]

SUBJECT_SHARE = 0.7  # of the canvas's width and height
BORDER_TOLERANCE = 48  # max channel difference from the border colour still counted as backdrop
MAX_WORKING_SIDE = 1100  # sources are shrunk to this first; no subject is drawn larger

# Colour words -> the colour they paint; the first two mentioned make the gradient.
COLOURS: dict[str, Rgb] = {
    "red": (200, 40, 45),
    "crimson": (170, 20, 50),
    "maroon": (120, 25, 35),
    "coral": (245, 120, 95),
    "orange": (240, 140, 40),
    "peach": (250, 190, 150),
    "yellow": (245, 215, 60),
    "gold": (212, 170, 55),
    "golden": (212, 170, 55),
    "beige": (225, 205, 170),
    "cream": (245, 235, 210),
    "ivory": (250, 245, 225),
    "brown": (125, 80, 45),
    "olive": (120, 125, 50),
    "green": (60, 160, 75),
    "mint": (160, 225, 190),
    "teal": (30, 130, 130),
    "turquoise": (50, 200, 190),
    "cyan": (60, 200, 225),
    "blue": (45, 95, 200),
    "navy": (25, 40, 100),
    "purple": (125, 60, 170),
    "violet": (145, 90, 200),
    "lavender": (190, 170, 230),
    "magenta": (200, 50, 160),
    "pink": (240, 150, 185),
    "white": (245, 245, 245),
    "silver": (190, 195, 200),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "black": (25, 25, 28),
}
_COLOUR_WORD = re.compile(r"\b(" + "|".join(COLOURS) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class Palette:
    top: Rgb
    bottom: Rgb
    accent: Rgb


_PAINT_SCALE = 4  # the background is painted at 1/4 size (see paint_background)


@dataclass(frozen=True)
class Layout:
    """How one variant is arranged. Variant 0 is the plain one: centred, vertical gradient."""

    palette: Palette
    turns: int  # quarter turns of the gradient (0: the top colour at the top)
    share: float  # of the canvas's width and height the subject fits in
    # the subject off centre, as a share of the room beside it (-1: touching the left or top)
    shift: tuple[float, float]


def layout_for(prompt: str, variant: int) -> Layout:
    """The arrangement of this variant of the prompt's picture: the same every time."""
    palette = palette_for_prompt(prompt)
    if variant == 0:
        return Layout(palette, 0, SUBJECT_SHARE, (0.0, 0.0))
    rng = random.Random(hashlib.sha256(f"layout:{variant}:{prompt}".encode()).digest())
    # Near variants (the images of one generation; a take and the next) differ, whatever the
    # draws: the subject on the other side, higher or lower, the gradient another way round.
    across = -1 if variant % 2 else 1
    down = -1 if variant // 2 % 2 else 1
    turns = 1 + variant % 3
    share = rng.uniform(0.52, 0.64)
    shift = (across * rng.uniform(0.6, 0.9), down * rng.uniform(0.3, 0.6))
    # Close enough to the prompt's colours to keep them, far enough to see.
    turn = rng.choice((-1, 1)) * rng.uniform(0.025, 0.05)
    varied = Palette(
        _turn_hue(palette.top, turn),
        _turn_hue(palette.bottom, turn),
        _turn_hue(palette.accent, turn),
    )
    return Layout(varied, turns, share, shift)


def _turn_hue(colour: Rgb, turn: float) -> Rgb:
    hue, sat, value = colorsys.rgb_to_hsv(*(c / 255 for c in colour))
    return _hsv((hue + turn) % 1.0, sat, value)


def palette_for_prompt(prompt: str) -> Palette:
    """The colours a prompt asks for, or colours picked by a hash of the prompt."""
    named = [COLOURS[word.lower()] for word in _COLOUR_WORD.findall(prompt)]
    if len(named) >= 2:
        return Palette(named[0], _shade(named[1], 0.8), _tint(named[0], 0.45))
    if named:
        return Palette(_tint(named[0], 0.2), _shade(named[0], 0.7), _tint(named[0], 0.5))
    digest = hashlib.sha256(prompt.encode()).digest()
    hue, sat = digest[0] / 255, 0.35 + digest[1] / 255 * 0.4
    top = _hsv(hue, sat * 0.6, 0.95)
    return Palette(top, _hsv((hue + 0.06) % 1.0, sat, 0.55), _hsv(hue, sat * 0.3, 1.0))


def _hsv(hue: float, sat: float, value: float) -> Rgb:
    r, g, b = colorsys.hsv_to_rgb(hue, sat, value)
    return round(r * 255), round(g * 255), round(b * 255)


def _tint(colour: Rgb, amount: float) -> Rgb:
    r, g, b = (round(c + (255 - c) * amount) for c in colour)
    return r, g, b


def _shade(colour: Rgb, amount: float) -> Rgb:
    r, g, b = (round(c * amount) for c in colour)
    return r, g, b


def extract_subject(source: Image.Image) -> Image.Image:
    """The subject as RGBA, cropped to its bounding box; alpha is the cut-out mask."""
    if source.mode == "P" and "transparency" in source.info:
        source = source.convert("RGBA")
    if max(source.size) > MAX_WORKING_SIDE:
        source = source.copy()
        source.thumbnail((MAX_WORKING_SIDE, MAX_WORKING_SIDE), Image.Resampling.BILINEAR)
    has_alpha = source.mode in ("RGBA", "LA", "PA")
    rgba = source.convert("RGBA")
    alpha = rgba.getchannel("A")
    lowest_alpha = alpha.getextrema()[0]
    if has_alpha and isinstance(lowest_alpha, int) and lowest_alpha < 255:
        mask = alpha
    else:
        mask = border_mask(rgba.convert("RGB"))
    box = mask.getbbox()
    if box is None:  # nothing but backdrop: keep the whole picture
        return rgba.convert("RGB").convert("RGBA")
    rgba.putalpha(mask)
    return rgba.crop(box)


def border_mask(rgb: Image.Image, tolerance: int = BORDER_TOLERANCE) -> Image.Image:
    """255 where a pixel differs from the border's dominant colour, with a soft edge."""
    backdrop = border_colour(rgb)
    diff = ImageChops.difference(rgb, Image.new("RGB", rgb.size, backdrop))
    red, green, blue = diff.split()
    distance = ImageChops.lighter(ImageChops.lighter(red, green), blue)
    low = tolerance // 2
    ramp = [
        0 if v <= low else 255 if v >= tolerance else (v - low) * 255 // (tolerance - low)
        for v in range(256)
    ]
    # A 3x3 median drops lone speckles (JPEG noise) that would stretch the bounding box.
    return distance.point(ramp).filter(ImageFilter.MedianFilter(3))


def border_colour(rgb: Image.Image) -> Rgb:
    """The per-channel median of a thin frame around the image."""
    width, height = rgb.size
    band = max(1, min(width, height) // 64)
    frame = [
        rgb.crop((0, 0, width, band)),
        rgb.crop((0, height - band, width, height)),
        rgb.crop((0, 0, band, height)),
        rgb.crop((width - band, 0, width, height)),
    ]
    histogram = [0] * 768
    for strip in frame:
        for i, count in enumerate(strip.histogram()):
            histogram[i] += count
    medians = []
    for channel in range(3):
        counts = histogram[channel * 256 : channel * 256 + 256]
        half, seen = sum(counts) / 2, 0
        for value, count in enumerate(counts):
            seen += count
            if seen >= half:
                medians.append(value)
                break
    return medians[0], medians[1], medians[2]


def placeholder_subject(seed: str) -> Image.Image:
    """A plain bottle-like shape standing in for a subject the emulator cannot fetch."""
    digest = hashlib.sha256(seed.encode()).digest()
    colour = _hsv(digest[0] / 255, 0.55, 0.8)
    image = Image.new("RGBA", (360, 640), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((40, 180, 320, 630), radius=60, fill=(*colour, 255))
    draw.rectangle((130, 40, 230, 190), fill=(*_shade(colour, 0.7), 255))
    draw.rounded_rectangle((115, 10, 245, 60), radius=12, fill=(40, 40, 45, 255))
    draw.rectangle((70, 330, 290, 470), fill=(*_tint(colour, 0.8), 255))
    return image


def paint_background(prompt: str, width: int, height: int, variant: int = 0) -> Image.Image:
    """Gradient, blurred discs and a vignette in the prompt's palette, as RGB."""
    return _paint_small(prompt, width, height, variant).resize(
        (width, height), Image.Resampling.BILINEAR
    )


def _paint_small(prompt: str, width: int, height: int, variant: int) -> Image.Image:
    """The background at 1/_PAINT_SCALE of its size: everything in it is soft, so painting it
    small and scaling it up once costs a sixth of painting it at full size, and looks the same."""
    small = (max(1, width // _PAINT_SCALE), max(1, height // _PAINT_SCALE))
    layout = layout_for(prompt, variant)
    palette = layout.palette
    ramp = Image.linear_gradient("L").rotate(90 * layout.turns)
    ramp = ramp.resize(small, Image.Resampling.BILINEAR)
    canvas = Image.composite(
        Image.new("RGB", small, palette.bottom), Image.new("RGB", small, palette.top), ramp
    )
    # Shapes are drawn smaller still and blurred, then scaled up: soft and cheap.
    rng = random.Random(hashlib.sha256(f"{variant}:{prompt}".encode()).digest())
    tiny = (max(1, width // 8), max(1, height // 8))
    discs = Image.new("L", tiny, 0)
    draw = ImageDraw.Draw(discs)
    for _ in range(7):
        x, y = rng.uniform(0, tiny[0]), rng.uniform(0, tiny[1])
        radius = rng.uniform(0.04, 0.14) * tiny[0]
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=rng.randint(40, 110))
    discs = discs.filter(ImageFilter.GaussianBlur(3)).resize(small, Image.Resampling.BILINEAR)
    canvas = Image.composite(Image.new("RGB", small, palette.accent), canvas, discs)
    edge = Image.radial_gradient("L").resize(small, Image.Resampling.BILINEAR)
    vignette = edge.point([max(0, v - 150) for v in range(256)])  # 0 inside, up to ~105 at corners
    return Image.composite(Image.new("RGB", small, (0, 0, 0)), canvas, vignette)


@dataclass(frozen=True)
class Fitted:
    """The subject scaled to its place on the canvas: its colours, and its cut-out mask."""

    colour: Image.Image  # RGB
    mask: Image.Image  # L


def fit_subject(subject: Image.Image, size: tuple[int, int]) -> Fitted:
    """The subject (RGBA) scaled to `size`: a fifth of a render's CPU, and the same for every
    variant-0 picture of one photo at one canvas size, so a caller may keep it (see Fitter)."""
    fitted = subject.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    return Fitted(fitted.convert("RGB"), fitted.getchannel("A"))


# Gives fit_subject(subject, size), or the same thing kept from an earlier render.
Fitter = Callable[[Image.Image, tuple[int, int]], Fitted]


def compose(
    subject: Image.Image,
    prompt: str,
    width: int,
    height: int,
    variant: int = 0,
    fit: Fitter = fit_subject,
) -> Image.Image:
    """The subject at ~70% of the canvas (centred in variant 0) over a soft shadow and the
    painted background."""
    small = _paint_small(prompt, width, height, variant)
    layout = layout_for(prompt, variant)
    scale = min(width * layout.share / subject.width, height * layout.share / subject.height)
    size = (max(1, round(subject.width * scale)), max(1, round(subject.height * scale)))
    fitted = fit(subject, size)
    left = round((width - size[0]) / 2 * (1 + layout.shift[0]))
    top = round((height - size[1]) / 2 * (1 + layout.shift[1]))
    # The shadow is soft too: drawn on the small background, before it is scaled up.
    shadow = Image.new("L", small.size, 0)
    sx, sy, sw = (
        (left + size[0] / 2) / _PAINT_SCALE,
        (top + size[1]) / _PAINT_SCALE,
        size[0] / 2 / _PAINT_SCALE,
    )
    ImageDraw.Draw(shadow).ellipse((sx - sw, sy - sw * 0.12, sx + sw, sy + sw * 0.12), fill=110)
    shadow = shadow.filter(ImageFilter.GaussianBlur(16 / _PAINT_SCALE))
    small = Image.composite(Image.new("RGB", small.size, (0, 0, 0)), small, shadow)
    canvas = small.resize((width, height), Image.Resampling.BILINEAR)
    canvas.paste(fitted.colour, (left, top), fitted.mask)
    return canvas


def encode(image: Image.Image, output_format: str, compression: int) -> bytes:
    """PNG (fast zlib level; compression does not apply), or JPEG/WebP at quality=compression.
    WebP at its fastest method: half the time of method 2, and no difference to see."""
    buffer = io.BytesIO()
    pil_format = PIL_FORMATS[output_format]
    if pil_format == "PNG" and image.mode in _PNG_COLOUR_TYPES:
        return _png_filtered_up(image)
    if pil_format == "PNG":
        image.save(buffer, "PNG", compress_level=1)
    elif pil_format == "JPEG":
        image.save(buffer, "JPEG", quality=max(1, min(100, compression)))
    else:
        image.save(buffer, "WEBP", quality=max(0, min(100, compression)), method=0)
    return buffer.getvalue()


_PNG_COLOUR_TYPES = {"RGB": 2, "RGBA": 6}
_IDAT_SIZE = 1 << 16


def _png_filtered_up(image: Image.Image) -> bytes:
    """The image as an 8-bit PNG whose every row has the "Up" filter, deflated at level 1.

    Pillow's encoder tries the five filters on every row and keeps the best: two thirds of the
    encode, and most of a render's CPU. Backdrops are smooth gradients, which "Up" alone
    compresses as well; the pixels are the same, the encode about half the time (and decoding
    it is quicker too).
    """
    width, height = image.size
    stride = width * len(image.mode)
    # Each row's row above, zeros above the first: a crop reaching one row above the image
    # fills it with zeros (one copy, not a blank image and a paste: 0.5 against 4 ms).
    above = image.crop((0, -1, width, height - 1))
    # "Up": each byte minus the byte above it, modulo 256 (ImageChops does the sums in C).
    raw = ImageChops.subtract_modulo(image, above).tobytes()
    rows = b"".join(b"\x02" + raw[at : at + stride] for at in range(0, len(raw), stride))
    data = zlib.compress(rows, 1)
    header = struct.pack(">IIBBBBB", width, height, 8, _PNG_COLOUR_TYPES[image.mode], 0, 0, 0)
    chunks = [chunk(b"IHDR", header)]
    chunks += [chunk(b"IDAT", data[at : at + _IDAT_SIZE]) for at in range(0, len(data), _IDAT_SIZE)]
    chunks.append(chunk(b"IEND", b""))
    return SIGNATURE + b"".join(chunks)


def parse_size(size: str) -> tuple[int, int]:
    width, _, height = size.partition("x")
    return int(width), int(height)


def replace_background(
    subject: Image.Image,
    *,
    prompt: str,
    size: str,
    output_format: str,
    compression: int,
    variant: int = 0,
    fit: Fitter = fit_subject,
) -> bytes:
    """One result image, encoded: the whole local 'background replacement'."""
    width, height = parse_size(size)
    canvas = compose(subject, prompt, width, height, variant, fit)
    return encode(canvas, output_format, compression)


def load_subject(data: bytes) -> Image.Image:
    """Decode an uploaded image and cut out its subject."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (MAX_WORKING_SIDE, MAX_WORKING_SIDE))  # JPEG: decode at reduced scale
        image.load()
        return extract_subject(image)
