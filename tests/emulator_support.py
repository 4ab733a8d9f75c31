"""Helpers for the emulator's tests: source images, request bodies, an in-process client."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from PIL import Image, ImageDraw

from runner.emulator.app import EmulatorApi, create_app
from runner.emulator.config import EmulatorConfig

KEY = "test-key-not-secret"
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def studio_photo(
    fmt: str = "PNG",
    size: tuple[int, int] = (400, 300),
    backdrop: tuple[int, int, int] = (250, 250, 250),
    subject: tuple[int, int, int] = (20, 160, 40),
) -> bytes:
    """A product shot: a plain backdrop with a coloured box in the middle."""
    image = Image.new("RGB", size, backdrop)
    width, height = size
    ImageDraw.Draw(image).rectangle(
        (width * 3 // 8, height // 4, width * 5 // 8, height * 3 // 4), fill=subject
    )
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def feature_body(image_url: str, **overrides: Any) -> dict[str, Any]:
    prompt_object: dict[str, Any] = {
        "imageUrl": image_url,
        "prompt": "on a red marble table",
        "size": "1024x1024",
        "n": 1,
        "quality": "low",
        "output_format": "png",
        "output_compression": 100,
    }
    top = {k: overrides.pop(k) for k in ("type", "model") if k in overrides}
    prompt_object.update(overrides)
    body = {"type": "BACKGROUND_REPLACER", "model": "gpt-image-1", "promptObject": prompt_object}
    body.update(top)
    return body


@asynccontextmanager
async def in_process(
    config: EmulatorConfig | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, EmulatorApi]]:
    """An httpx client wired to a fresh emulator through ASGITransport (no sockets)."""
    app = create_app(config)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://emulator", headers={"API-KEY": KEY}
    ) as client:
        yield client, app.state.emulator


# The least mean difference per channel (0-255) two images must have to tell them apart at a
# glance: the subject moved, the backdrop's hue or gradient changed (JPEG noise is about 1).
VISIBLY_DIFFERENT = 12.0


def mean_difference(first: bytes | Image.Image, second: bytes | Image.Image) -> float:
    """The mean absolute difference of two same-sized images (encoded, or decoded by
    `decode_rgb` when each is compared with several), over every pixel and channel."""
    from PIL import ImageChops, ImageStat

    diff = ImageChops.difference(decode_rgb(first), decode_rgb(second))
    return sum(ImageStat.Stat(diff).mean) / 3


def decode_rgb(image: bytes | Image.Image) -> Image.Image:
    """An encoded image decoded as RGB (a decoded RGB image as it is)."""
    if isinstance(image, Image.Image) and image.mode == "RGB":
        return image
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    with Image.open(io.BytesIO(image)) as opened:
        return opened.convert("RGB")


async def upload(
    client: httpx.AsyncClient, data: bytes | None = None, name: str = "mug.png"
) -> str:
    response = await client.post(
        "/api/assets", files={"asset": (name, data or studio_photo(), "image/png")}
    )
    assert response.status_code == 200, response.text
    path: str = response.json()["fileContent"]["path"]
    return path


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
