"""The client against the real emulator: in-process (ASGITransport) and over loopback sockets."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from runner.api.client import OneMinClient
from runner.api.errors import AuthError, CreditsError, RejectedError, TransientError
from runner.emulator.app import create_app
from runner.emulator.config import DEFAULT_CREDIT_LIMIT, EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.execute.result_files import download_verified

KEY = "emu-key-Xy7-distinctive"
BASE = "http://emulator.test"


def source_png() -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGBA", (96, 64), (0, 0, 0, 0))
    image.paste((30, 120, 200, 255), (24, 16, 72, 48))
    image.save(buffer, "PNG")
    return buffer.getvalue()


def prompt(image_url: str, **changes: Any) -> dict[str, Any]:
    fields = {
        "imageUrl": image_url,
        "prompt": "a snowy mountain at dawn",
        "size": "1024x1024",
        "n": 2,
        "quality": "low",
        "output_format": "png",
        "output_compression": 100,
    }
    return {**fields, **changes}


def in_process(config: EmulatorConfig, key: str = KEY) -> tuple[OneMinClient, Any]:
    app = create_app(config)
    client = OneMinClient(
        api_key=key,
        base_url=BASE,
        asset_base_url=f"{BASE}/asset",
        transport=httpx.ASGITransport(app=app),
    )
    return client, app


def test_upload_generate_and_download_round_trip(tmp_path: Path) -> None:
    client, app = in_process(EmulatorConfig(api_key=KEY, seed=3))

    async def main() -> None:
        async with client:
            asset = await client.upload_asset(source_png(), "mug.png", "image/png")
            generation = await client.generate(prompt(asset))
            assert len(generation.result_keys) == 2
            assert (
                generation.credits_left is not None
                and generation.credits_left < DEFAULT_CREDIT_LIMIT
            )
            for index, key in enumerate(generation.result_keys):
                record = await download_verified(
                    client, key, output_dir=tmp_path, dest=f"winter/mug-{index}.png",
                    expected_format="png", expected_size=(1024, 1024),
                )  # fmt: skip
                assert (record.width, record.height) == (1024, 1024)
            assert generation.temporary_url is not None
            via_link = await download_verified(
                client, generation.result_keys[0], output_dir=tmp_path, dest="link.png",
                expected_format="png", expected_size=(1024, 1024), url=generation.temporary_url,
            )  # fmt: skip
            assert via_link.sha256 == _sha(tmp_path / "winter" / "mug-0.png")

    asyncio.run(main())
    assert len(app.state.emulator.ledger.entries) == 1


def test_the_emulators_refusals_map_to_our_errors() -> None:
    config = EmulatorConfig(api_key=KEY, credit_limit=1, seed=1)
    client, _ = in_process(config)
    wrong, _ = in_process(config, key="not-the-key")

    async def main() -> None:
        async with client:
            asset = await client.upload_asset(source_png(), "mug.png", "image/png")
            with pytest.raises(RejectedError) as bad_size:
                await client.generate(prompt(asset, size="999x999"))
            assert bad_size.value.status == 400
            assert "999x999" in bad_size.value.message
            with pytest.raises(CreditsError):
                await client.generate(prompt(asset))
        async with wrong:
            with pytest.raises(AuthError) as refused:
                await wrong.generate(prompt("images/x.png"))
            assert "not-the-key" not in str(refused.value)

    asyncio.run(main())


def test_a_download_cut_short_on_a_real_socket_is_transient() -> None:
    with EmulatorServer(EmulatorConfig(truncate_rate=1.0, seed=5)) as server:

        async def main() -> None:
            async with OneMinClient(api_key=KEY, base_url=server.base_url,
                                    asset_base_url=server.asset_base_url) as client:  # fmt: skip
                asset = await client.upload_asset(source_png(), "mug.png", "image/png")
                with pytest.raises(TransientError) as err:
                    await _download(client, asset)  # the asset host serves uploads too
                assert "\n" not in err.value.message
                assert err.value.message.startswith(f"downloading {asset} from 127.0.0.1")

        asyncio.run(main())


def test_a_dropped_connection_on_a_real_socket_is_transient() -> None:
    with EmulatorServer(EmulatorConfig(drop_rate=1.0, seed=5)) as server:

        async def main() -> None:
            async with OneMinClient(api_key=KEY, base_url=server.base_url) as client:
                with pytest.raises(TransientError) as err:
                    await client.generate(prompt("https://example.com/mug.png"))  # never fetched
                assert "the connection" in err.value.message
                assert KEY not in repr(err.value)

        asyncio.run(main())


async def _download(client: OneMinClient, key: str) -> bytes:
    sink = io.BytesIO()
    await client.download(key, sink, max_bytes=64 * 1024 * 1024)
    return sink.getvalue()


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
