"""A forgotten upload is uploaded again, once, and its generation retried, once: whatever words
the API uses to say that the asset is unknown (README, "A forgotten upload").

Before: only "asset not found" (and two other spellings) were recognised; 1min.ai's own answer,
`400 imageUrl '...' is not a known asset`, failed the job on every run and every --retry-failed,
and the only way out was deleting .backdrop/.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from runner.api.client import OneMinClient
from runner.api.errors import RejectedError, UnknownAssetError
from runner.emulator.config import EmulatorConfig
from runner.emulator.server import EmulatorServer
from runner.execute.run_plan import run_plan
from runner.plan.plan_model import ImageSource
from tests.clihelp import run_cli
from tests.runhelp import API_KEY, fast_options, make_plan
from tests.tinyrun import FAST

PROMPT = {"imageUrl": "images/old.png", "prompt": "a beach", "size": "1024x1024", "n": 1,
          "quality": "low", "output_format": "png", "output_compression": 100}  # fmt: skip

# (status, body): each way an API may say that the imageUrl names no known asset. Documented in
# README's "A forgotten upload"; keep the two lists together.
UNKNOWN = {
    "1min.ai's own": (400, {"message": "imageUrl 'images/old.png' is not a known asset"}),
    "asset not found": (400, {"message": "Asset not found: images/old.png"}),
    "error code": (400, {"errorCode": "ASSET_NOT_FOUND", "message": "Bad Request"}),
    "unknown asset code": (400, {"code": "UNKNOWN_ASSET"}),
    "does not exist": (400, {"error": {"message": "The asset with key x.png does not exist"}}),
    "doesn't exist": (400, {"message": "File doesn't exist"}),
    "expired upload": (400, {"message": "Upload expired, please upload the image again"}),
    "expired URL": (400, {"message": "The image URL has expired"}),
    "invalid asset": (400, {"message": "invalid asset"}),
    "invalid imageUrl": (400, {"message": "Invalid imageUrl"}),
    "no such key": (400, "NoSuchKey: The specified key does not exist."),
    "could not find": (400, "Error: could not find asset \u2018images/old.png\u2019"),
    "deleted": (400, "the uploaded file was deleted"),
    "image not found": (400, {"message": "Image not found"}),
    "no asset found": (400, {"message": "No asset found for imageUrl"}),
    "could not find the": (400, {"message": "Could not find the asset"}),
    "failed to download": (400, {"message": "Failed to download image from imageUrl"}),
    "not uploaded": (400, {"message": "image has not been uploaded"}),
    "purged": (400, {"message": "asset has been purged"}),
    "ENOENT": (400, "ENOENT: no such file or directory"),
    "references unknown": (400, {"message": "imageUrl references an unknown asset"}),
    "asset_id": (400, {"error": "asset_id not found"}),
    "bare 400 Not Found": (400, {"message": "Not Found"}),
    "field says not found": (400, {"imageUrl": "not found"}),
    "422 validation": (422, {"detail": [{"loc": ["body", "promptObject", "imageUrl"],
                                         "msg": "asset does not exist", "type": "value_error"}]}),
    "422 field errors": (422, {"errors": {"imageUrl": ["is unknown"]}}),
    "422 missing source": (422, "Unprocessable: source image missing"),
    "404 JSON": (404, {"message": "Not Found"}),
    "404 HTML": (404, "<html><body><h1>404 Not Found</h1></body></html>"),
    "404 empty": (404, ""),
    "410 gone": (410, "Gone"),
}  # fmt: skip

# Refusals about something else: the job fails with the API's message, nothing is uploaded.
OTHER = {
    "size": (400, {"message": "promptObject.size: 1000x1000 is not one of 1024x1024, 1536x1024"}),
    "prompt": (400, {"message": "prompt is too long (max 4000 characters)"}),
    "image too large": (400, {"message": "The image is too large"}),
    "image size": (400, {"message": "invalid image size"}),
    "model": (400, {"message": "Model 'gpt-image-2' is not supported"}),
    "format": (400, {"message": "The file is not a PNG, JPEG or WebP image"}),
    "bad request": (400, "Bad Request"),
    "safety": (400, {"message": "Your request was rejected by the safety system"}),
    "no prompt": (400, {"message": "No prompt given"}),
    "422 other field": (422, {"detail": [{"loc": ["body", "promptObject", "prompt"],
                                          "msg": "field required"}]}),
}  # fmt: skip


def response(status: int, body: Any) -> httpx.Response:
    if isinstance(body, str):
        kind = "text/html" if body.startswith("<") else "text/plain"
        return httpx.Response(status, content=body.encode(), headers={"Content-Type": kind})
    return httpx.Response(status, json=body)


def generate_with(status: int, body: Any) -> Exception:
    async def main() -> Exception:
        handler = lambda request: response(status, body)  # noqa: E731
        async with OneMinClient(
            api_key=API_KEY,
            base_url="https://api.test",
            asset_base_url="https://asset.test",
            transport=httpx.MockTransport(handler),
        ) as client:
            with pytest.raises(RejectedError) as refused:
                await client.generate(PROMPT)
            return refused.value

    return asyncio.run(main())


@pytest.mark.parametrize("case", UNKNOWN)
def test_every_wording_of_an_unknown_asset_is_recognised(case: str) -> None:
    status, body = UNKNOWN[case]
    refused = generate_with(status, body)
    assert isinstance(refused, UnknownAssetError), refused.message
    assert refused.status == status
    assert f"HTTP {status}" in refused.message


@pytest.mark.parametrize("case", OTHER)
def test_other_refusals_are_not_taken_for_an_unknown_asset(case: str) -> None:
    refused = generate_with(*OTHER[case])
    assert not isinstance(refused, UnknownAssetError), refused.message


def test_a_failed_record_that_says_the_asset_is_unknown_is_recognised() -> None:
    said = "imageUrl 'images/old.png' is not a known asset"
    record = {"aiRecord": {"uuid": "r1", "status": "FAILED", "message": said}}
    assert isinstance(generate_with(200, record), UnknownAssetError)
    other = {"aiRecord": {"uuid": "r2", "status": "FAILED", "message": "content policy"}}
    assert not isinstance(generate_with(200, other), UnknownAssetError)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1024, 1024), (90, 120, 150)).save(buffer, "PNG")
    return buffer.getvalue()


class ForgetfulApi:
    """1min.ai over httpx.MockTransport, which forgot every upload made before it started (and,
    with `forgets_again`, forgets each new upload as soon as it is used once)."""

    def __init__(
        self, refusal: tuple[int, Any], *, name: str = "new", forgets_again: bool = False
    ) -> None:
        self.refusal = refusal
        self.name = name
        self.forgets_again = forgets_again
        self.known: set[str] = set()
        self.uploads = 0
        self.generations: list[str] = []  # the imageUrl of each generation asked for
        self.result = png()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/assets":
            self.uploads += 1
            key = f"images/{self.name}-upload-{self.uploads}.png"
            self.known.add(key)
            return httpx.Response(200, json={"fileContent": {"path": key}})
        if request.url.path == "/api/features":
            image_url = json.loads(request.content)["promptObject"]["imageUrl"]
            self.generations.append(image_url)
            if image_url not in self.known:
                return response(*self.refusal)
            if self.forgets_again:
                self.known.discard(image_url)
            number = len(self.generations)
            detail = {"resultObject": [f"images/result-{number}.png"]}
            record = {"uuid": f"rec-{number}", "status": "SUCCESS", "aiRecordDetail": detail}
            return httpx.Response(200, json={"aiRecord": record})
        return httpx.Response(200, content=self.result, headers={"Content-Type": "image/png"})


def run_with(api: ForgetfulApi, plan: Any) -> Any:
    return run_plan(
        plan,
        fast_options(concurrency=1),
        api_key=API_KEY,
        base_url="https://api.test",
        asset_base_url="https://asset.test",
        transport=httpx.MockTransport(api),
        handle_sigint=False,
    )


@pytest.fixture
def forgotten(tmp_path: Path) -> Callable[[tuple[int, Any]], tuple[Any, ForgetfulApi]]:
    """A plan (one product, two seasons) run once; then the recipe's prompt changed (new jobs,
    the same source image) and an API that forgot that image's upload."""
    seasons = ("spring", "summer")
    plan = make_plan(tmp_path, products=("MUG",), seasons=seasons)
    assert run_with(ForgetfulApi((400, "unused"), name="old"), plan).done == 2
    changed = make_plan(
        tmp_path, products=("MUG",), seasons=seasons, prompt=lambda p, s: f"{p} in {s} snow"
    )

    def forgetful(refusal: tuple[int, Any]) -> tuple[Any, ForgetfulApi]:
        return changed, ForgetfulApi(refusal)

    return forgetful


@pytest.mark.parametrize("case", ["1min.ai's own", "422 validation", "404 HTML", "no such key"])
def test_a_forgotten_upload_is_uploaded_once_again_and_each_job_retried_once(
    forgotten, case: str
) -> None:
    plan, api = forgotten(UNKNOWN[case])
    result = run_with(api, plan)
    assert result.ok and result.done == 2, [f.message for f in result.failures]
    assert api.uploads == 1  # the two jobs share the new upload
    # The first job: refused with the old key, then sent with the new one; the second: the new.
    new = "images/new-upload-1.png"
    assert api.generations == ["images/old-upload-1.png", new, new]


def test_an_upload_forgotten_again_is_not_uploaded_a_third_time(forgotten) -> None:
    plan, api = forgotten(UNKNOWN["1min.ai's own"])
    api.forgets_again = True
    result = run_with(api, plan)
    # The first job: refused, uploaded again, generated. The second: refused (forgotten again),
    # uploaded again, generated. Never more than one new upload and one retry per job.
    assert result.ok
    assert api.uploads == 2 and len(api.generations) == 4


def test_a_job_whose_retry_is_refused_again_fails_with_the_apis_words(tmp_path) -> None:
    plan = make_plan(tmp_path, products=("MUG",), seasons=("spring",))

    class NeverKnown(ForgetfulApi):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            answer = super().__call__(request)
            self.known.clear()  # forgets each upload before it can be used
            return answer

    api = NeverKnown(UNKNOWN["1min.ai's own"])
    result = run_with(api, plan)
    assert result.failed == 1
    assert "is not a known asset" in result.failures[0].message
    assert api.uploads == 2 and len(api.generations) == 2  # one re-upload, one retry, no loop


def test_an_asset_key_of_the_recipes_own_is_not_uploaded(tmp_path) -> None:
    extra = {"OLD": ImageSource("asset", "images/gone.png")}
    plan = make_plan(tmp_path, products=(), seasons=("spring",), extra_images=extra)
    api = ForgetfulApi(UNKNOWN["1min.ai's own"])
    result = run_with(api, plan)
    assert result.failed == 1 and api.uploads == 0 and len(api.generations) == 1


# -- end to end: the real CLI against the emulator, which forgets its uploads ---------------------

RECIPE = """\
version: 1
name: tiny
defaults: {{ size: 1024x1024, quality: low, n: 1, output_format: webp }}
matrix:
  season: [spring, summer, autumn]
image: images/mug.png
prompt: "a {material} mug in {{{{ season }}}}"
output: "{{{{ season }}}}/mug"
"""
KEY = "sk-TEST-unknown-asset-7f1a"
EXAMPLE = Path(__file__).parent / "fixtures" / "example"


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(api_key=KEY, cache_results=True)) as running:
        yield running


def test_a_run_after_the_emulator_forgot_its_uploads_uploads_again_and_succeeds(
    tmp_path, monkeypatch, capsys, server
) -> None:
    import shutil
    import urllib.request

    from tests.runhelp import uploads

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONEMIN_API_KEY", KEY)
    (tmp_path / "images").mkdir()
    shutil.copy(EXAMPLE / "images" / "mug.png", tmp_path / "images" / "mug.png")
    urls = ("--api-url", server.base_url, "--asset-url", server.asset_base_url)

    def run(material: str, *args: str) -> Any:
        (tmp_path / "tiny.yaml").write_text(RECIPE.format(material=material))
        return run_cli(capsys, "run", "tiny.yaml", "-y", *urls, *FAST, *args)

    assert run("ceramic").code == 0
    assert uploads(server) == 1
    forget = urllib.request.Request(f"{server.base_url}/_emulator/forget-uploads", method="POST")
    with urllib.request.urlopen(forget) as answer:
        assert json.loads(answer.read()) == {"forgotten": 1}

    changed = run("stone")  # three new jobs, the same source image, its upload forgotten
    assert changed.code == 0, changed.err
    assert "Finished: 3 done" in changed.out
    assert uploads(server) == 2  # uploaded again once, for the three jobs
    refused = server.api.stats.by_route["POST /api/features"]["400"]
    assert refused >= 1  # the refusal that led to it: not charged
    assert len(server.api.ledger.entries) == 6


def test_the_emulator_forgets_uploads_for_good_and_keeps_their_results(tmp_path) -> None:
    from tests.emulator_support import feature_body, in_process, upload

    async def main(config: EmulatorConfig) -> tuple[int, str, int, int]:
        async with in_process(config) as (client, _):
            key = await upload(client)
            made = await client.post("/api/features", json=feature_body(key))
            result = made.json()["aiRecord"]["aiRecordDetail"]["resultObject"][0]
            forgot = await client.post("/_emulator/forget-uploads")
            assert forgot.json() == {"forgotten": 1}
            refused = await client.post("/api/features", json=feature_body(key))
            source = await client.get(f"/asset/{key}")
            kept = await client.get(f"/asset/{result}")
            return (
                refused.status_code,
                refused.json()["message"],
                source.status_code,
                (kept.status_code),
            )

    saved = EmulatorConfig(state_dir=tmp_path / "emulator")
    status, message, source, kept = asyncio.run(main(saved))
    assert (status, source, kept) == (400, 404, 200)
    assert message.startswith("imageUrl 'images/") and message.endswith("is not a known asset")

    async def after_restart() -> int:
        async with in_process(saved) as (client, api):
            (key,) = api.store.saved_uploads
            answer = await client.post("/api/features", json=feature_body(key))
            return answer.status_code

    assert asyncio.run(after_restart()) == 400  # still forgotten: expired assets stay expired
