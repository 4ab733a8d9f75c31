"""Resize a generated image to a channel's size and encode it, locally with Pillow."""

from __future__ import annotations

import io
from dataclasses import dataclass

from runner.recipe.model import Channel

FORMATS = ("jpeg", "png", "webp")
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp"}
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
DEFAULT_QUALITY = 90


@dataclass(frozen=True)
class Encoded:
    data: bytes
    width: int
    height: int


def format_of(path: str) -> str:
    """The export format of a generated file, from its extension."""
    suffix = path.rsplit(".", 1)[-1].lower()
    return "jpeg" if suffix in ("jpg", "jpeg") else suffix if suffix in FORMATS else "png"


def render_channel(
    source: bytes, channel: Channel | None, fmt: str, quality: int, *, same_format: bool
) -> Encoded:
    """The delivered bytes: the source as it is (no channel, same format), else re-encoded.

    Deterministic for the same input and Pillow version (no timestamps, no metadata), so that
    re-exporting an unchanged review gives byte-identical files.
    """
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(source)) as opened:
        opened.load()
        image = opened.copy()
    if channel is None and same_format:
        return Encoded(source, image.width, image.height)
    if channel is not None:
        size = (channel.width, channel.height)
        if channel.fit == "cover":
            image = ImageOps.fit(image, size, Image.Resampling.LANCZOS, centering=(0.5, 0.5))
        else:
            padding = (*channel.background, 255) if image.mode == "RGBA" else channel.background
            image = ImageOps.pad(image, size, Image.Resampling.LANCZOS, color=padding)
    if fmt == "jpeg" and image.mode != "RGB":
        # JPEG has no transparency: flatten onto the channel's background (white by default).
        background = channel.background if channel is not None else (255, 255, 255)
        flat = Image.new("RGB", image.size, background)
        rgba = image.convert("RGBA")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    buffer = io.BytesIO()
    options: dict[str, object] = {}
    if fmt in ("jpeg", "webp"):
        options["quality"] = quality
    if fmt == "png":
        options["optimize"] = False
    image.save(buffer, _PIL_FORMATS[fmt], **options)
    return Encoded(buffer.getvalue(), image.width, image.height)
