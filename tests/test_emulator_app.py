"""The emulator's API, driven in-process through httpx.ASGITransport."""

from __future__ import annotations

import hashlib
import io

import httpx
import pytest
from PIL import Image

from runner.api import limits
from runner.emulator.config import DEFAULT_CREDIT_LIMIT, EmulatorConfig
from runner.emulator.faults import DroppedConnection, TokenBucket, TruncatedDownload

from .emulator_support import (
    KEY,
    VISIBLY_DIFFERENT,
    decode,
    decode_rgb,
    feature_body,
    in_process,
    mean_difference,
    run,
    studio_photo,
    upload,
)


def test_upload_generate_download_round_trip() -> None:
    async def scenario() -> None:
        async with in_process() as (client, api):
            answer = await client.post(
                "/api/assets", files={"asset": ("mug shot.png", studio_photo(), "image/png")}
            )
            assert answer.status_code == 200
            asset, content = answer.json()["asset"], answer.json()["fileContent"]
            assert asset["key"] == content["path"]
            assert asset["key"].startswith("images/") and asset["key"].endswith("_mug_shot.png")
            assert asset["location"] == f"http://emulator/asset/{asset['key']}"
            assert asset["mimetype"] == content["mimetype"] == "image/png"
            assert asset["size"] == content["size"] == len(studio_photo())

            body = feature_body(content["path"], n=2, size="1536x1024", output_format="jpeg")
            answer = await client.post("/api/features", json=body)
            assert answer.status_code == 200, answer.text
            record = answer.json()["aiRecord"]
            assert record["status"] == "SUCCESS"
            assert record["model"] == "gpt-image-1" and record["type"] == "BACKGROUND_REPLACER"
            assert record["aiRecordDetail"]["promptObject"] == body["promptObject"]
            assert record["aiRecordDetail"]["responseObject"] == {}
            results = record["aiRecordDetail"]["resultObject"]
            assert len(results) == 2 and len(set(results)) == 2
            assert all(k.endswith("_background_replaced.jpg") for k in results)
            team = record["teamUser"]
            assert team["creditLimit"] == DEFAULT_CREDIT_LIMIT and team["usedCredit"] == 2 * 1000
            assert team["status"] == "ACTIVE"
            url = record["temporaryUrl"]
            assert url.startswith(f"http://emulator/asset/{results[0]}?X-Amz-Algorithm=")
            assert "X-Amz-Expires=604800" in url and "X-Amz-Signature=" in url

            presigned = await client.get(url)
            assert presigned.status_code == 200
            assert presigned.headers["content-type"] == "image/jpeg"
            image = decode(presigned.content)
            assert (image.format, image.size) == ("JPEG", (1536, 1024))
            second = await client.get(f"/asset/{results[1]}")
            assert decode(second.content).size == (1536, 1024)
            assert second.content != presigned.content  # each of the n images is its own

            source = await client.get(f"/asset/{asset['key']}")
            assert source.content == studio_photo()
            assert api.ledger.used == 2000

    run(scenario())


@pytest.mark.parametrize(
    ("size", "fmt", "pil_format"),
    [("1024x1536", "png", "PNG"), ("1024x1024", "webp", "WEBP"), ("1536x1024", "jpeg", "JPEG")],
)
def test_results_have_the_requested_size_and_format(size: str, fmt: str, pil_format: str) -> None:
    async def scenario() -> Image.Image:
        async with in_process() as (client, _):
            key = await upload(client)
            body = feature_body(key, size=size, output_format=fmt, output_compression=60)
            record = (await client.post("/api/features", json=body)).json()["aiRecord"]
            return decode((await client.get(record["temporaryUrl"])).content)

    image = run(scenario())
    assert image.format == pil_format
    assert f"{image.width}x{image.height}" == size


def test_same_request_gives_identical_bytes_across_emulators() -> None:
    async def one() -> bytes:
        async with in_process() as (client, _):
            key = await upload(client)
            record = (await client.post("/api/features", json=feature_body(key))).json()
            return (await client.get(record["aiRecord"]["temporaryUrl"])).content

    assert run(one()) == run(one())


def test_each_generation_of_a_request_paints_new_images_and_a_download_the_same_bytes() -> None:
    """Issue 17: as a real API, take 2 of a job is a new picture, visibly; n variants too."""

    async def scenario() -> list[list[bytes]]:
        async with in_process() as (client, api):
            key = await upload(client)
            # The same photo uploaded again (an expired upload sent anew) is the same request.
            again = await upload(client, name="mug-again.png")
            takes = []
            for image_url in (key, again, key):
                body = feature_body(image_url, n=2, size="1024x1536", output_format="jpeg")
                record = (await client.post("/api/features", json=body)).json()["aiRecord"]
                urls = [f"/asset/{result}" for result in record["aiRecordDetail"]["resultObject"]]
                takes.append([(await client.get(url)).content for url in urls])
                # A re-download of a paid result: the same bytes, every time.
                assert [(await client.get(url)).content for url in urls] == takes[-1]
            assert len(api.ledger.entries) == 3
            return takes

    takes = run(scenario())
    images = [image for take in takes for image in take]
    assert len(set(images)) == 6  # three takes of two variants: six pictures
    decoded = [decode_rgb(image) for image in images]  # each once, not once per pair
    for i, first in enumerate(decoded):
        for second in decoded[i + 1 :]:
            assert mean_difference(first, second) > VISIBLY_DIFFERENT
    # Reproducible: a new emulator asked the same three times gives the same six images.
    assert run(scenario()) == takes


def test_https_image_url_is_accepted_with_a_placeholder_subject() -> None:
    async def scenario() -> tuple[int, bytes]:
        async with in_process() as (client, api):
            body = feature_body("https://cdn.example.com/mug.png", output_format="webp")
            answer = await client.post("/api/features", json=body)
            record = answer.json()["aiRecord"]
            data = (await client.get(record["temporaryUrl"])).content
            assert api.ledger.entries[0].imageUrl == "https://cdn.example.com/mug.png"
            return answer.status_code, data

    status, data = run(scenario())
    assert status == 200
    assert decode(data).format == "WEBP"


def test_asset_location_url_works_as_image_url() -> None:
    async def scenario() -> int:
        async with in_process() as (client, _):
            key = await upload(client)
            body = feature_body(f"http://emulator/asset/{key}")
            return (await client.post("/api/features", json=body)).status_code

    assert run(scenario()) == 200


async def _answer(config: EmulatorConfig | None, **overrides: object) -> tuple[int, dict, int]:
    async with in_process(config) as (client, api):
        accepted = config is None or (config.api_key in (None, KEY) and not config.reject_key)
        key = await upload(client) if accepted else "images/x.png"
        headers = overrides.pop("headers", None)
        body = feature_body(key, **overrides)
        answer = await client.post("/api/features", json=body, headers=headers)  # type: ignore[arg-type]
        return answer.status_code, answer.json(), len(api.ledger.entries)


@pytest.mark.parametrize(
    ("overrides", "code", "fragment"),
    [
        ({"model": "dall-e-3"}, "UNSUPPORTED_MODEL", "dall-e-3"),
        ({"type": "IMAGE_GENERATOR"}, "UNSUPPORTED_FEATURE", "IMAGE_GENERATOR"),
        ({"size": "800x600"}, None, "promptObject.size: '800x600' is not one of"),
        ({"n": 0}, None, "promptObject.n: 0 is out of range (the API allows 1 to 10)"),
        ({"n": 11}, None, "promptObject.n: 11 is out of range"),
        ({"quality": "ultra"}, None, "promptObject.quality"),
        ({"output_format": "gif"}, None, "promptObject.output_format"),
        ({"output_compression": 101}, None, "promptObject.output_compression"),
        ({"prompt": "x" * 4001}, None, "4001 characters long; the API allows at most 4000"),
        ({"prompt": "   "}, None, "the prompt is empty"),
        ({"imageUrl": "images/nope.png"}, None, "imageUrl 'images/nope.png' is not a known asset"),
        ({"imageUrl": "http://example.com/a.png"}, None, "https://"),
        ({"seed": 3}, None, "unknown field(s): seed"),
    ],
)
def test_invalid_requests_get_400_and_cost_nothing(
    overrides: dict[str, object], code: str | None, fragment: str
) -> None:
    status, body, charged = run(_answer(None, **overrides))
    assert status == 400
    assert fragment in body["message"]
    assert body.get("errorCode") == code
    assert charged == 0


def test_missing_options_take_the_api_defaults() -> None:
    async def scenario() -> dict:
        async with in_process() as (client, api):
            key = await upload(client)
            body = {"type": "BACKGROUND_REPLACER", "model": "gpt-image-1",
                    "promptObject": {"imageUrl": key, "prompt": "on grass"}}  # fmt: skip
            answer = await client.post("/api/features", json=body)
            assert answer.status_code == 200
            entry = api.ledger.entries[0]
            return {"size": entry.size, "n": entry.n, "quality": entry.quality}

    assert run(scenario()) == {"size": "1024x1024", "n": 1, "quality": "medium"}


@pytest.mark.parametrize(
    ("config", "headers"),
    [
        (None, {"API-KEY": ""}),
        (EmulatorConfig(api_key="the-right-key"), {"API-KEY": "a-wrong-key"}),
        (EmulatorConfig(reject_key=True), None),
    ],
)
def test_bad_key_gets_401(config: EmulatorConfig | None, headers: dict | None) -> None:
    status, body, charged = run(_answer(config, headers=headers))
    assert (status, body, charged) == (401, {"message": "Unauthorized"}, 0)


def test_configured_key_is_accepted() -> None:
    status, _, charged = run(_answer(EmulatorConfig(api_key=KEY)))
    assert (status, charged) == (200, 1)


def test_upload_refuses_what_is_not_an_accepted_image(monkeypatch: pytest.MonkeyPatch) -> None:
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")

    async def scenario() -> list[tuple[int, str]]:
        async with in_process() as (client, api):
            answers = [
                await client.post("/api/assets", files={"asset": ("a.png", b"not an image")}),
                await client.post("/api/assets", files={"asset": ("a.gif", gif.getvalue())}),
                await client.post("/api/assets", files={"other": ("a.png", studio_photo())}),
                await client.post("/api/assets", files={"asset": ("a.png", studio_photo()[:-40])}),
            ]
            monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", 100)
            answers.append(
                await client.post("/api/assets", files={"asset": ("a.png", studio_photo())})
            )
            assert not api.store.uploads
            return [(a.status_code, a.json()["message"]) for a in answers]

    answers = run(scenario())
    assert answers[0] == (400, "The file is not a PNG, JPEG or WebP image")
    assert answers[1] == (400, "The file is not a PNG, JPEG or WebP image")
    assert answers[2] == (400, "No file in the form field 'asset'")
    assert answers[3][0] == 400  # a truncated PNG
    assert answers[4][0] == 413


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_upload_accepts_jpeg_and_webp(fmt: str) -> None:
    async def scenario() -> dict:
        async with in_process() as (client, _):
            files = {"asset": ("shot", studio_photo(fmt))}
            return (await client.post("/api/assets", files=files)).json()["asset"]

    asset = run(scenario())
    assert asset["mimetype"] == limits.SOURCE_FORMATS[fmt]


def test_ledger_records_each_charged_generation() -> None:
    async def scenario() -> list[dict]:
        async with in_process() as (client, _):
            key = await upload(client)
            await client.post("/api/features", json=feature_body(key, prompt="on snow", n=3))
            await client.post("/api/features", json=feature_body(key, quality="high"))
            await client.post("/api/features", json=feature_body(key, size="bad"))  # not charged
            return (await client.get("/_emulator/ledger")).json()

    ledger = run(scenario())
    assert [e["seq"] for e in ledger] == [1, 2]
    first, second = ledger
    assert first["prompt"] == "on snow"
    assert first["prompt_sha256"] == hashlib.sha256(b"on snow").hexdigest()
    assert (first["n"], first["quality"], first["credits"], len(first["results"])) == (
        3,
        "low",
        3000,
        3,
    )
    assert (second["quality"], second["credits"], second["size"]) == ("high", 16000, "1024x1024")
    assert first["imageUrl"] == second["imageUrl"] and first["imageUrl"].startswith("images/")
    assert first["uuid"] != second["uuid"] and not first["failed_after_charge"]


def test_credits_run_out() -> None:
    async def scenario() -> list[httpx.Response]:
        async with in_process(EmulatorConfig(credit_limit=5000)) as (client, _):
            key = await upload(client)
            return [
                await client.post("/api/features", json=feature_body(key, quality="medium")),
                await client.post("/api/features", json=feature_body(key, quality="medium")),
                await client.post("/api/features", json=feature_body(key, quality="low")),
                await client.post("/api/features", json=feature_body(key, quality="low")),
            ]

    answers = run(scenario())
    assert [a.status_code for a in answers] == [200, 400, 200, 400]
    assert answers[1].json()["errorCode"] == "INSUFFICIENT_CREDITS"
    assert answers[1].json()["message"].startswith("Insufficient credits")
    assert answers[2].json()["aiRecord"]["teamUser"]["usedCredit"] == 5000


def test_rpm_limit_answers_429_with_retry_after() -> None:
    async def scenario(retry_after: bool) -> list[httpx.Response]:
        config = EmulatorConfig(rpm_limit=60, rpm_burst=2, retry_after=retry_after)
        async with in_process(config) as (client, api):
            key = await upload(client)
            answers = [await client.post("/api/features", json=feature_body(key)) for _ in range(3)]
            assert len(api.ledger.entries) == 1  # refused requests cost nothing
            return answers

    with_header = run(scenario(True))
    assert [a.status_code for a in with_header] == [200, 429, 429]
    assert with_header[1].headers["Retry-After"] == "1"
    assert with_header[1].json() == {"message": "Too Many Requests"}
    without = run(scenario(False))
    assert [a.status_code for a in without] == [200, 429, 429]
    assert "Retry-After" not in without[1].headers


def test_token_bucket_lets_a_paced_client_through_and_refuses_a_flood() -> None:
    bucket = TokenBucket(600, None, now=0.0)  # 10 per second, depth 10
    # Pacing at exactly the limit, with +-30 ms of jitter: never refused.
    jitter = [0.03, -0.03, 0.0, 0.02, -0.01]
    assert all(bucket.take(now=i * 0.1 + jitter[i % 5]) == 0 for i in range(1, 600))
    flood = TokenBucket(600, None, now=0.0)
    waits = [flood.take(now=1.0) for _ in range(30)]
    assert waits[:10] == [0.0] * 10
    assert all(w > 0 for w in waits[10:])
    assert flood.take(now=1.1) == 0  # one token refilled after 100 ms


def test_burst_of_429s() -> None:
    async def scenario() -> list[httpx.Response]:
        async with in_process(EmulatorConfig(burst_429=1.0, burst_seconds=30)) as (client, _):
            return [await client.post("/api/features", json=feature_body("x")) for _ in range(3)]

    answers = run(scenario())
    assert [a.status_code for a in answers] == [429, 429, 429]
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 30


def test_error_rate_with_a_seed_is_reproducible_and_charges_nothing() -> None:
    async def scenario() -> tuple[list[int], int]:
        async with in_process(EmulatorConfig(error_rate=0.5, seed=7)) as (client, api):
            statuses = []
            key = None
            for _ in range(100):  # uploads fail too
                if key is not None:
                    break
                answer = await client.post(
                    "/api/assets", files={"asset": ("a.png", studio_photo())}
                )
                statuses.append(answer.status_code)
                key = answer.json()["asset"]["key"] if answer.status_code == 200 else None
            for _ in range(20):
                answer = await client.post("/api/features", json=feature_body(key))
                statuses.append(answer.status_code)
            return statuses, len(api.ledger.entries)

    statuses, charged = run(scenario())
    assert run(scenario()) == (statuses, charged)
    assert set(statuses) <= {200, 500, 502, 503, 504}
    assert 200 in statuses and len(set(statuses)) >= 3
    assert charged == statuses.count(200) - 1  # every success but the upload was charged


def test_gateway_errors_are_html_and_app_errors_json() -> None:
    async def scenario() -> dict[int, str]:
        seen: dict[int, str] = {}
        async with in_process(EmulatorConfig(error_rate=1.0, seed=1)) as (client, _):
            for _ in range(100):
                body = feature_body("https://cdn.example.com/a.png")
                answer = await client.post("/api/features", json=body)
                seen[answer.status_code] = answer.headers["content-type"]
        return seen

    seen = run(scenario())
    assert seen[502].startswith("text/html") and seen[504].startswith("text/html")
    assert seen[500] == seen[503] == "application/json"


def test_charge_then_fail_answers_504_but_charges() -> None:
    async def scenario() -> tuple[httpx.Response, list[dict]]:
        async with in_process(EmulatorConfig(charge_then_fail_rate=1.0)) as (client, _):
            key = await upload(client)
            answer = await client.post("/api/features", json=feature_body(key))
            return answer, (await client.get("/_emulator/ledger")).json()

    answer, ledger = run(scenario())
    assert answer.status_code == 504
    assert len(ledger) == 1 and ledger[0]["failed_after_charge"] is True


def test_dropped_connection_in_process_raises_a_remote_protocol_error() -> None:
    async def scenario() -> tuple[int, dict]:
        async with in_process(EmulatorConfig(drop_rate=1.0)) as (client, api):
            with pytest.raises(httpx.RemoteProtocolError) as caught:
                await client.post("/api/features", json=feature_body("https://x.test/a.png"))
            assert isinstance(caught.value, DroppedConnection)
            stats = (await client.get("/_emulator/stats")).json()
            return len(api.ledger.entries), stats

    charged, stats = run(scenario())
    assert charged == 0
    assert stats["dropped"] == 1
    assert stats["routes"]["POST /api/features"] == {"dropped": 1}


def test_truncated_download_in_process_raises() -> None:
    async def scenario() -> None:
        async with in_process(EmulatorConfig(truncate_rate=1.0)) as (client, _):
            key = await upload(client)
            with pytest.raises(TruncatedDownload):
                await client.get(f"/asset/{key}")

    run(scenario())


def test_asset_host_checks_keys_and_signatures() -> None:
    async def scenario() -> list[int]:
        async with in_process() as (client, _):
            key = await upload(client)
            record = (await client.post("/api/features", json=feature_body(key))).json()
            url = record["aiRecord"]["temporaryUrl"]
            tampered = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
            other_key = url.replace("_background_replaced", "_other")
            return [
                (await client.get(url)).status_code,
                (await client.get(tampered)).status_code,
                (await client.get(other_key)).status_code,
                (await client.get("/asset/images/missing.png")).status_code,
            ]

    assert run(scenario()) == [200, 403, 404, 404]


def test_latency_does_not_serialise_generations() -> None:
    async def scenario() -> int:
        import asyncio

        async with in_process(EmulatorConfig(latency=(0.05, 0.1), seed=3)) as (client, api):
            key = await upload(client)
            answers = await asyncio.gather(
                *(client.post("/api/features", json=feature_body(key)) for _ in range(4))
            )
            assert [a.status_code for a in answers] == [200] * 4
            return api.stats.max_in_flight

    assert run(scenario()) == 4


def test_cache_results_serves_one_image_per_size_and_format() -> None:
    async def scenario() -> list[bytes]:
        async with in_process(EmulatorConfig(cache_results=True)) as (client, _):
            key = await upload(client)
            out = []
            for prompt, size in (
                ("on sand", "1024x1536"),
                ("on snow", "1024x1536"),
                ("x", "1024x1024"),
            ):
                body = feature_body(key, prompt=prompt, size=size)
                record = (await client.post("/api/features", json=body)).json()["aiRecord"]
                out.append((await client.get(record["temporaryUrl"])).content)
            return out

    sand, snow, square = run(scenario())
    assert sand == snow != square
    assert decode(sand).size == (1024, 1536) and decode(square).size == (1024, 1024)


def test_stats_and_reset() -> None:
    async def scenario() -> tuple[dict, dict, list]:
        async with in_process(EmulatorConfig(rpm_limit=60, rpm_burst=2)) as (client, _):
            key = await upload(client)
            await client.post("/api/features", json=feature_body(key))
            await client.post("/api/features", json=feature_body(key))
            await client.get("/nowhere")
            before = (await client.get("/_emulator/stats")).json()
            assert (await client.post("/_emulator/reset")).status_code == 200
            after = (await client.get("/_emulator/stats")).json()
            ledger = (await client.get("/_emulator/ledger")).json()
            return before, after, ledger

    before, after, ledger = run(scenario())
    assert before["routes"]["POST /api/assets"] == {"200": 1}
    assert before["routes"]["POST /api/features"] == {"200": 1, "429": 1}
    assert before["routes"]["GET (other)"] == {"404": 1}
    assert (before["api_requests"], before["api_429"], before["charged"]) == (3, 1, 1)
    assert after["routes"] == {"POST /_emulator/reset": {"200": 1}} and ledger == []


def test_asset_base_url_override() -> None:
    async def scenario() -> dict:
        config = EmulatorConfig(asset_base_url="https://asset.example.test/")
        async with in_process(config) as (client, _):
            key = await upload(client)
            record = (await client.post("/api/features", json=feature_body(key))).json()
            return record["aiRecord"]

    record = run(scenario())
    assert record["temporaryUrl"].startswith("https://asset.example.test/images/")
