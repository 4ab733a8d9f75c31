"""The emulator's state_dir: what one emulator answered, the next one (on another port) serves."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.emulator.config import EmulatorConfig
from runner.emulator.persist import JOURNAL, SECRET, UPLOADS, StateFolder
from runner.emulator.server import EmulatorProcess, EmulatorServer, config_from_json, config_to_json

from .emulator_support import KEY, decode, feature_body, in_process, run, studio_photo, upload


def _generate(server: EmulatorServer, source: bytes, **options: Any) -> dict[str, Any]:
    """Upload `source`, generate from it and download every result, over loopback."""

    async def scenario() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=server.base_url, headers={"API-KEY": KEY}) as client:
            key = await upload(client, source)
            answer = await client.post("/api/features", json=feature_body(key, **options))
            assert answer.status_code == 200, answer.text
            record = answer.json()["aiRecord"]
            results = record["aiRecordDetail"]["resultObject"]
            images = [
                (await client.get(f"{server.asset_base_url}/{result}")).content
                for result in results
            ]
            return {"upload": key, "record": record, "results": results, "images": images}

    return run(scenario())


def _get(url: str) -> httpx.Response:
    return httpx.get(url, headers={"API-KEY": KEY})


def test_a_new_emulator_on_another_port_serves_the_old_keys(tmp_path: Path) -> None:
    state = tmp_path / "state"
    source = studio_photo("PNG")
    config = EmulatorConfig(api_key=KEY, state_dir=state)
    with EmulatorServer(config) as first:
        done = _generate(first, source, n=2, output_format="webp", size="1024x1536")
        first_ledger = first.api.ledger.to_json()
        first_url = first.base_url
    assert first_ledger[0]["credits"] == 2000

    with EmulatorServer(config) as second:
        # A fresh app (usually on a new port): only what the folder holds carries over.
        for result, image in zip(done["results"], done["images"], strict=True):
            answer = _get(f"{second.asset_base_url}/{result}")
            assert answer.status_code == 200
            assert answer.content == image  # re-rendered from the saved spec, byte for byte
            assert answer.headers["content-type"] == "image/webp"
        assert decode(done["images"][0]).size == (1024, 1536)
        original = _get(f"{second.asset_base_url}/{done['upload']}")
        assert (original.status_code, original.content) == (200, source)
        # The old temporaryUrl, moved to the new host, still verifies (the secret was kept).
        old_link = done["record"]["temporaryUrl"].replace(first_url, second.base_url)
        relinked = _get(old_link)
        assert (relinked.status_code, relinked.content) == (200, done["images"][0])
        # The ledger and the credits carry over, and charging goes on from there.
        assert second.api.ledger.to_json() == first_ledger
        assert second.api.ledger.used == 2000
        again = _generate(second, source, quality="medium")
        assert again["upload"] != done["upload"]  # new keys never reuse old ones
        ledger = _get(f"{second.base_url}/_emulator/ledger").json()
        assert [(e["seq"], e["credits"]) for e in ledger] == [(1, 2000), (2, 4000)]
        body = _get(f"{second.base_url}/_emulator/stats").json()
        assert body["credits_used"] == 6000 and body["charged"] == 2
        assert again["record"]["teamUser"]["usedCredit"] == 6000


def test_a_generation_can_use_an_upload_from_an_earlier_emulator(tmp_path: Path) -> None:
    config = EmulatorConfig(api_key=KEY, state_dir=tmp_path)
    with EmulatorServer(config) as first:
        key = run(_upload_only(first))
    with EmulatorServer(config) as second:
        answer = httpx.post(
            f"{second.base_url}/api/features",
            json=feature_body(key),
            headers={"API-KEY": KEY},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()["aiRecord"]["aiRecordDetail"]["resultObject"][0]
        assert decode(_get(f"{second.asset_base_url}/{result}").content).format == "PNG"


async def _upload_only(server: EmulatorServer) -> str:
    async with httpx.AsyncClient(base_url=server.base_url, headers={"API-KEY": KEY}) as client:
        return await upload(client, studio_photo("JPEG"), name="bottle.jpg")


def test_credits_spent_before_a_restart_still_count(tmp_path: Path) -> None:
    config = EmulatorConfig(api_key=KEY, state_dir=tmp_path, credit_limit=1500)

    async def generate_once() -> httpx.Response:
        async with in_process(config) as (client, _):
            return await client.post("/api/features", json=feature_body("https://x.test/a.png"))

    assert run(generate_once()).status_code == 200  # 1000 of 1500 credits
    refused = run(generate_once())  # a new emulator: only 500 left
    assert refused.status_code == 400
    assert refused.json()["errorCode"] == "INSUFFICIENT_CREDITS"
    message = refused.json()["message"]
    assert "500 are left" in message and f"delete {tmp_path} to refill" in message


def test_a_torn_last_line_is_skipped_and_cut_off(tmp_path: Path) -> None:
    config = EmulatorConfig(api_key=KEY, state_dir=tmp_path)

    async def generate(prompt: str) -> list[str]:
        async with in_process(config) as (client, api):
            answer = await client.post(
                "/api/features", json=feature_body("https://x.test/a.png", prompt=prompt)
            )
            assert answer.status_code == 200, answer.text
            return [e.prompt for e in api.ledger.entries]

    assert run(generate("on a blue sea")) == ["on a blue sea"]
    journal = tmp_path / JOURNAL
    whole = journal.read_bytes()
    with open(journal, "ab") as handle:  # a crash in the middle of writing the next line
        handle.write(b'{"kind":"generation","results":{"images/x.png":{"sou')
    restored = StateFolder(tmp_path).load()
    assert restored.skipped_lines == 1 and len(restored.charges) == 1
    assert journal.read_bytes() == whole  # the fragment is gone, so appends start clean
    assert run(generate("in a green field")) == ["on a blue sea", "in a green field"]
    assert run(generate("under a grey sky"))[-1] == "under a grey sky"


def test_unreadable_lines_and_missing_upload_files_are_skipped(tmp_path: Path) -> None:
    config = EmulatorConfig(api_key=KEY, state_dir=tmp_path)

    async def upload_twice() -> list[str]:
        async with in_process(config) as (client, _):
            first = await upload(client, studio_photo("PNG"))
            second = await upload(client, studio_photo("PNG", subject=(200, 0, 0)))
            return [first, second]

    first, second = run(upload_twice())
    journal = tmp_path / JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    garbage = [b"not json\n", b'{"kind":"upload","key":"k","mimetype":"x","sha256":"../x"}\n']
    journal.write_bytes(lines[0] + b"".join(garbage) + lines[1])
    gone = json.loads(lines[0])["sha256"]
    (tmp_path / UPLOADS / gone).unlink()

    restored = StateFolder(tmp_path).load()
    assert list(restored.uploads) == [second]
    assert restored.skipped_lines == 3  # two bad lines, one upload whose bytes are gone

    async def exists(key: str) -> int:
        async with in_process(config) as (client, _):
            return (await client.get(f"/asset/{key}")).status_code

    assert run(exists(first)) == 404
    assert run(exists(second)) == 200


def test_same_bytes_are_stored_once(tmp_path: Path) -> None:
    config = EmulatorConfig(api_key=KEY, state_dir=tmp_path)

    async def upload_same_twice() -> list[str]:
        async with in_process(config) as (client, _):
            return [await upload(client, studio_photo()) for _ in range(2)]

    keys = run(upload_same_twice())
    assert len(set(keys)) == 2  # two keys, as the real API gives
    assert len(list((tmp_path / UPLOADS).iterdir())) == 1


def test_reset_forgets_the_saved_state_but_keeps_the_secret(tmp_path: Path) -> None:
    config = EmulatorConfig(api_key=KEY, state_dir=tmp_path)
    secret = StateFolder(tmp_path).secret()

    async def upload_then_reset() -> None:
        async with in_process(config) as (client, api):
            await upload(client)
            assert api.secret == secret
            assert (await client.post("/_emulator/reset")).status_code == 200

    run(upload_then_reset())
    restored = StateFolder(tmp_path).load()
    assert not restored.uploads and not restored.charges
    assert not list((tmp_path / UPLOADS).iterdir())
    assert (tmp_path / SECRET).read_bytes() == secret


def test_a_damaged_secret_is_replaced(tmp_path: Path) -> None:
    (tmp_path / SECRET).write_bytes(b"short")
    secret = StateFolder(tmp_path).secret()
    assert len(secret) == 32 and (tmp_path / SECRET).read_bytes() == secret
    assert StateFolder(tmp_path).secret() == secret


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_saved_files_are_private(tmp_path: Path) -> None:
    config = EmulatorConfig(api_key=KEY, state_dir=tmp_path / "state")

    async def upload_one() -> None:
        async with in_process(config) as (client, _):
            await upload(client)

    run(upload_one())
    state = tmp_path / "state"
    for path in (state / SECRET, state / JOURNAL, *(state / UPLOADS).iterdir()):
        assert path.stat().st_mode & 0o077 == 0, path


def test_the_key_is_never_saved(tmp_path: Path) -> None:
    config = EmulatorConfig(api_key=KEY, state_dir=tmp_path)
    with EmulatorServer(config) as server:
        _generate(server, studio_photo())
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_without_state_dir_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    with EmulatorServer(EmulatorConfig(api_key=KEY)) as server:
        assert server.api.saved is None
        done = _generate(server, studio_photo())
        assert done["images"][0]
    assert list(tmp_path.iterdir()) == []


def test_state_dir_survives_the_config_round_trip(tmp_path: Path) -> None:
    config = EmulatorConfig(api_key=KEY, state_dir=tmp_path)
    assert config_from_json(config_to_json(config)) == config
    assert EmulatorConfig(state_dir=str(tmp_path)).state_dir == tmp_path  # type: ignore[arg-type]


def test_a_child_process_emulator_keeps_state_too(tmp_path: Path) -> None:
    config = EmulatorConfig(api_key=KEY, state_dir=tmp_path)
    with EmulatorProcess(config) as child:
        answer = httpx.post(
            f"{child.base_url}/api/features",
            json=feature_body("https://x.test/a.png"),
            headers={"API-KEY": KEY},
            timeout=30,
        )
        result = answer.json()["aiRecord"]["aiRecordDetail"]["resultObject"][0]
        image = _get(f"{child.asset_base_url}/{result}").content
    with EmulatorServer(config) as server:
        assert _get(f"{server.asset_base_url}/{result}").content == image
