"""The emulator as an ASGI app: 1min.ai's assets, features and asset host, plus fault injection.

Routes:
- POST /api/assets       upload (multipart, file field `asset`)
- POST /api/features     BACKGROUND_REPLACER with gpt-image-1
- GET  /asset/{key}      the asset host (uploads and results; presigned links are verified)
- GET  /_emulator/ledger every charged generation; GET /_emulator/stats answers by route/status;
  POST /_emulator/reset  forget everything (uploads, results, ledger, stats, fault state),
                         also what config.state_dir keeps
  POST /_emulator/forget-uploads  forget every upload so far, as 1min.ai's expiring assets are:
                         a generation naming one is refused (400 "imageUrl '...' is not a known
                         asset"), as is its download (404); results made from them stay

An `https://` imageUrl is accepted but never fetched (the emulator has no network): a generated
placeholder subject stands in for it.
"""

from __future__ import annotations

import hashlib
import io
import random
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runner.api import limits
from runner.emulator.answers import (
    CountAnswers,
    HangUp,
    bad_request,
    iso_now,
    s3_error,
    server_error,
    too_large,
)
from runner.emulator.config import EmulatorConfig
from runner.emulator.faults import FaultInjector, Refusal
from runner.emulator.ledger import Ledger, Stats
from runner.emulator.persist import StateFolder
from runner.emulator.places import Places
from runner.emulator.render_cache import RenderCache
from runner.emulator.store import AssetStore, Picture, ResultSpec, Upload

_ALLOWED_FIELDS = frozenset({"imageUrl", "prompt", *limits.PROMPT_FIELDS})
_FORM_OVERHEAD = 64 * 1024  # multipart framing around the file
_SOURCE_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


class EmulatorApi:
    """The emulator's state and request handlers."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.stats = Stats()
        self.saved = None if config.state_dir is None else StateFolder(config.state_dir)
        if config.seed is not None:
            secret = hashlib.sha256(f"backdrop-emulator:{config.seed}".encode()).digest()
        elif self.saved is not None:
            secret = self.saved.secret()  # so that earlier temporaryUrls stay valid
        else:
            secret = secrets.token_bytes(32)
        self.secret = secret
        self.team_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "backdrop-emulator/team"))
        self.user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "backdrop-emulator/user"))
        # Places under the concurrency cap, and the requests queued for one (when it queues).
        self.places = Places(config.max_in_flight if config.queue_timeout is not None else None)
        self.reset_state()

    def limited(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        """`handler` behind the rate limits (as a gateway would put it): a 429 is decided when
        the request arrives and answered after the refusal delay, holding no place under the
        concurrency cap meanwhile; the API requests let through count as being answered. Under
        a cap that queues, a request past it waits for a place (first come, first served) and
        is refused only when its queue timeout is up."""

        async def answer(request: Request) -> Response:
            refusal = self.faults.refuse(busy=self.places.busy)
            if refusal is None and not self.places.take_free():
                refusal = await self.wait_for_place(request)
            elif refusal is not None:
                delay = self.faults.refusal_delay()
                if delay:
                    await anyio.sleep(delay)
            if refusal is not None:
                headers = (
                    {} if refusal.retry_after is None else {"Retry-After": str(refusal.retry_after)}
                )
                return JSONResponse({"message": "Too Many Requests"}, 429, headers=headers)
            try:
                return await handler(request)
            finally:
                self.places.leave()

        return answer

    @property
    def busy(self) -> int:
        """API requests being answered now (not those refused, nor those waiting for a place)."""
        return self.places.busy

    async def wait_for_place(self, request: Request) -> Refusal | None:
        """Queue for a place under the cap: None once one is held, the 429 if the time ran out.
        Raises ClientDisconnect if the client leaves first (it then holds no place)."""
        timeout = self.faults.queue_timeout()
        placed = gone = False

        async def wait(scope: anyio.CancelScope) -> None:
            nonlocal placed
            placed = await self.places.wait(timeout)
            scope.cancel()  # stop watching the client

        async def watch(scope: anyio.CancelScope) -> None:
            nonlocal gone
            gone = await client_left(request)
            if gone:
                scope.cancel()  # stop waiting: nobody would read the answer

        async with anyio.create_task_group() as group:
            group.start_soon(wait, group.cancel_scope)
            group.start_soon(watch, group.cancel_scope)
        if placed:
            return None
        if gone:
            raise ClientDisconnect
        return self.faults.queue_refusal(timeout)

    def reset_state(self) -> None:
        cache = self.config.render_cache
        self.store = AssetStore(self.secret, None if cache is None else RenderCache(cache))
        self.ledger = Ledger(self.config.credit_limit)
        self.faults = FaultInjector(self.config)
        self.ids = random.Random(self.config.seed)
        self.stats.reset()
        # Images painted so far of each picture: the next generation of it paints the next ones.
        self.painted: dict[Picture, int] = {}
        if self.saved is not None:
            restored = self.saved.load()
            self.store.restore(restored.uploads, restored.results)
            self.store.forgotten.update(restored.forgotten)
            self.ledger.restore(restored.charges)
            for spec in restored.results.values():
                picture = self.store.picture_of(spec)
                self.painted[picture] = max(self.painted.get(picture, 0), spec.variant + 1)
            # Ids go on from where the earlier emulator stopped, not from the seed's start.
            for _ in range(len(restored.uploads) + len(restored.charges)):
                self.ids.getrandbits(128)

    def new_uuid(self) -> str:
        if self.config.seed is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self.ids.getrandbits(128), version=4))

    def asset_base(self, request: Request) -> str:
        if self.config.asset_base_url:
            return self.config.asset_base_url.rstrip("/")
        return str(request.base_url).rstrip("/") + "/asset"

    # --- the API ---------------------------------------------------------------------------

    def check_key(self, request: Request) -> Response | None:
        """A 401 unless the API-KEY header holds an accepted key."""
        key = request.headers.get("api-key", "")
        expected = self.config.api_key
        if (
            self.config.reject_key
            or not key
            or (
                expected is not None and not secrets.compare_digest(key.encode(), expected.encode())
            )
        ):
            return JSONResponse({"message": "Unauthorized"}, 401)
        return None

    def injected_failure(self) -> Response | None:
        """A dropped connection or a 5xx, decided before anything is stored or charged."""
        if self.faults.drop():
            return HangUp(b'{"message": "connection dropped"}', 0, "application/json")
        status = self.faults.server_error()
        return None if status is None else server_error(status, self.config.error_message)

    async def upload(self, request: Request) -> Response:
        refused = self.check_key(request) or self.injected_failure()
        if refused is not None:
            return refused
        delay = self.faults.transfer_latency()
        if delay:
            await anyio.sleep(delay)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.MAX_UPLOAD_BYTES + _FORM_OVERHEAD:
            return too_large()
        try:
            form = await request.form(max_files=1, max_fields=20)
        except HTTPException as exc:
            return bad_request(f"The upload is not a valid multipart form: {exc.detail}")
        try:
            upload = form.get("asset")
            if not isinstance(upload, UploadFile):
                return bad_request("No file in the form field 'asset'")
            data = await upload.read(limits.MAX_UPLOAD_BYTES + 1)
            filename = upload.filename or "upload"
        finally:
            await form.close()
        if len(data) > limits.MAX_UPLOAD_BYTES:
            return too_large()
        image_format, sha256 = await run_in_threadpool(sniff_image, data)
        if image_format is None:
            return bad_request("The file is not a PNG, JPEG or WebP image")
        mimetype = limits.SOURCE_FORMATS[image_format]
        extension = _SOURCE_EXTENSIONS[image_format]
        if self.saved is None:
            key = self.store.add_upload(filename, data, mimetype, extension, sha256)
        else:
            key = self.store.upload_key(filename, extension)
            try:  # kept on disk before it is answered, as the real bucket would
                await run_in_threadpool(self.saved.record_upload, key, data, mimetype)
            except OSError as exc:
                return cannot_save(exc)
            self.store.keep_upload(key, Upload(data, mimetype), sha256)
        return JSONResponse(
            {
                "asset": {
                    "key": key,
                    "location": f"{self.asset_base(request)}/{key}",
                    "mimetype": mimetype,
                    "size": len(data),
                },
                "fileContent": {
                    "uuid": self.new_uuid(),
                    "path": key,
                    "name": filename,
                    "mimetype": mimetype,
                    "size": len(data),
                },
            }
        )

    async def generate(self, request: Request) -> Response:
        refused = self.check_key(request)
        if refused is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            return bad_request("The request body is not valid JSON")
        if not isinstance(body, dict):
            return bad_request("The request body must be a JSON object")
        if body.get("type") != limits.FEATURE_TYPE:
            return bad_request(
                f"Feature type {body.get('type')!r} is not supported", "UNSUPPORTED_FEATURE"
            )
        if body.get("model") != limits.MODEL:
            return bad_request(
                f"Model {body.get('model')!r} is not supported for {limits.FEATURE_TYPE}",
                "UNSUPPORTED_MODEL",
            )
        sent = body.get("promptObject")
        if not isinstance(sent, dict):
            return bad_request("promptObject is missing or not an object")
        problem = check_prompt_object(sent)
        if problem is not None:
            return bad_request(problem)
        prompt_object = {**limits.DEFAULT_PROMPT_OBJECT, **sent}
        source = self.resolve_source(sent["imageUrl"], request)
        if source.startswith("!"):
            return bad_request(source[1:])
        n, quality = int(prompt_object["n"]), str(prompt_object["quality"])
        cost = self.config.credits_per_image[quality] * n
        if not self.ledger.can_afford(cost):
            return self.out_of_credits(cost)

        self.stats.enter_generation()
        try:
            delay = self.faults.latency()
            if delay:
                await anyio.sleep(delay)
            failure = self.injected_failure()
            if failure is not None:
                return failure
            if not self.ledger.can_afford(cost):  # others may have spent meanwhile
                return self.out_of_credits(cost)
            painted = ResultSpec(
                source=source,
                prompt=str(prompt_object["prompt"]),
                size=str(prompt_object["size"]),
                output_format=str(prompt_object["output_format"]),
                compression=int(prompt_object["output_compression"]),
                variant=0,
                cached=self.config.cache_results,
            )
            # As a real generator, each generation paints new images: the variants this
            # picture's earlier generations did not (its first one paints 0 .. n-1). Counted
            # per picture, not over all requests, so a run's images do not depend on the order
            # its requests arrive in.
            picture = self.store.picture_of(painted)
            first = self.painted.get(picture, 0)
            self.painted[picture] = first + n
            specs = [replace(painted, variant=first + index) for index in range(n)]
            results = tuple(self.store.add_result(spec) for spec in specs)
            record_id = self.new_uuid()
            fail_late = self.faults.fail_after_charge()
            drop_late = not fail_late and self.faults.drop_after_charge()
            entry = self.ledger.charge(
                uuid=record_id,
                prompt_object=prompt_object,
                credits=cost,
                results=results,
                failed_after_charge=fail_late or drop_late,
            )
            if self.saved is not None:
                # In the loop thread, with no await since charging: nothing else interleaves.
                try:
                    self.saved.record_generation(dict(zip(results, specs, strict=True)), entry)
                except OSError as exc:
                    return cannot_save(exc)  # charged all the same, as a late failure is
            if fail_late:
                return server_error(504)
            if drop_late:  # charged, and the answer never arrives (a connection cut mid-answer)
                return HangUp(b'{"aiRecord": {}}', 0, "application/json")
            return JSONResponse({"aiRecord": self.ai_record(request, record_id, sent, results)})
        finally:
            self.stats.leave_generation()

    def resolve_source(self, image_url: object, request: Request) -> str:
        """The store key or "url:<URL>" a generation draws its subject from; "!why" if none."""
        if not isinstance(image_url, str) or not image_url.strip():
            return "!promptObject.imageUrl must be an asset key or an https:// URL"
        base = self.asset_base(request) + "/"
        key = image_url.partition("?")[0].removeprefix(base) if image_url.startswith(base) else None
        if key is None:
            if image_url.startswith("https://"):
                return f"url:{image_url}"
            if image_url.startswith("http://"):
                return "!promptObject.imageUrl must be an https:// URL or an asset key"
            key = image_url
        if not self.store.exists(key):
            return f"!imageUrl '{image_url}' is not a known asset"  # 1min.ai's words
        return key

    def out_of_credits(self, cost: int) -> Response:
        left = max(0, self.config.credit_limit - self.ledger.used)
        message = f"Insufficient credits: this request needs {cost} credits and {left} are left"
        if self.saved is not None:  # spent over several runs: say how to refill
            message += (
                f" (emulated credits, spent over earlier runs too; delete {self.saved.folder}"
                " to refill them)"
            )
        return bad_request(message, "INSUFFICIENT_CREDITS")

    def ai_record(
        self, request: Request, record_id: str, sent: dict[str, Any], results: tuple[str, ...]
    ) -> dict[str, Any]:
        query = self.store.presign_query(results[0])
        return {
            "uuid": record_id,
            "model": limits.MODEL,
            "type": limits.FEATURE_TYPE,
            "metadata": None,
            "rating": None,
            "status": "SUCCESS",
            "createdAt": iso_now(),
            "teamUser": {
                "teamId": self.team_id,
                "userId": self.user_id,
                "creditLimit": self.config.credit_limit,
                "usedCredit": self.ledger.used,
                "status": "ACTIVE",
            },
            "aiRecordDetail": {
                "promptObject": sent,
                "resultObject": list(results),
                "responseObject": {},
            },
            "temporaryUrl": f"{self.asset_base(request)}/{results[0]}?{query}",
        }

    # --- the asset host --------------------------------------------------------------------

    async def download(self, request: Request) -> Response:
        key = request.path_params["key"]
        delay = self.faults.transfer_latency()
        if delay:
            await anyio.sleep(delay)
        if not self.store.exists(key):
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        query = request.query_params
        if "X-Amz-Signature" in query:
            problem = self.store.check_presigned(
                key,
                query.get("X-Amz-Date", ""),
                query.get("X-Amz-Expires", ""),
                query["X-Amz-Signature"],
            )
            if problem is not None:
                code, _, message = problem.partition(": ")
                return s3_error(403, code, message or "The request signature does not match.")
        found = self.store.peek(key)
        if found is None:
            found = await run_in_threadpool(self.store.read, key)
            if found is None:  # pragma: no cover - exists() said it does
                return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        data, mimetype = found
        cut = self.faults.truncate_at(len(data))
        if cut is not None:
            return HangUp(data, cut, mimetype, truncated=True)
        return Response(data, media_type=mimetype)

    # --- inspection ------------------------------------------------------------------------

    async def ledger_json(self, request: Request) -> Response:
        return JSONResponse(self.ledger.to_json())

    async def stats_json(self, request: Request) -> Response:
        data = self.stats.to_json()
        data["charged"] = len(self.ledger.entries)
        data["credits_used"] = self.ledger.used
        data["credit_limit"] = self.config.credit_limit
        return JSONResponse(data)

    async def forget_uploads(self, request: Request) -> Response:
        keys = self.store.forget_uploads()
        if self.saved is not None and keys:
            try:
                await run_in_threadpool(self.saved.record_forgotten, keys)
            except OSError as exc:
                return cannot_save(exc)
        return JSONResponse({"forgotten": len(keys)})

    async def reset(self, request: Request) -> Response:
        if self.saved is not None:
            self.saved.clear()
        self.reset_state()
        return JSONResponse({"reset": True})


def cannot_save(exc: OSError) -> Response:
    reason = exc.strerror or str(exc)
    return JSONResponse({"message": f"The emulator could not save its state: {reason}"}, 500)


async def client_left(request: Request) -> bool:
    """Wait until the client of a queued request hangs up (True), reading its body first (kept
    for the handler) as a gateway does; False at once when the body is too large to hold."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > limits.MAX_UPLOAD_BYTES + _FORM_OVERHEAD:
        return False  # the handler refuses it (413) or streams it; not worth holding
    try:
        await request.body()
    except ClientDisconnect:
        return True
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return True


def check_prompt_object(sent: dict[str, Any]) -> str | None:
    """Why a promptObject (as sent; missing options take the API's defaults) is refused."""
    unknown = sorted(set(sent) - _ALLOWED_FIELDS)
    if unknown:
        return f"promptObject has unknown field(s): {', '.join(unknown)}"
    for required in ("imageUrl", "prompt"):
        if required not in sent:
            return f"promptObject.{required} is missing"
    problems = limits.check_prompt_object({**limits.DEFAULT_PROMPT_OBJECT, **sent})
    if problems:
        name, problem = problems[0]
        return f"promptObject.{name}: {problem}"
    return None


def sniff_image(data: bytes) -> tuple[str | None, str]:
    """The Pillow format name when `data` is a whole, accepted image (else None), and the
    SHA-256 of the bytes (worked out here, off the event loop)."""
    from PIL import Image

    sha256 = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
            image.verify()
    except Exception:  # Pillow raises many kinds for bad input; all mean "not an image"
        return None, sha256
    return (image_format if image_format in limits.SOURCE_FORMATS else None), sha256


def create_app(config: EmulatorConfig | None = None) -> Starlette:
    """The emulator's ASGI app; `app.state.emulator` is its EmulatorApi (ledger, stats, store)."""
    api = EmulatorApi(config or EmulatorConfig())
    routes = [
        Route("/api/assets", api.limited(api.upload), methods=["POST"]),
        Route("/api/features", api.limited(api.generate), methods=["POST"]),
        Route("/asset/{key:path}", api.download, methods=["GET"]),
        Route("/_emulator/ledger", api.ledger_json, methods=["GET"]),
        Route("/_emulator/stats", api.stats_json, methods=["GET"]),
        Route("/_emulator/reset", api.reset, methods=["POST"]),
        Route("/_emulator/forget-uploads", api.forget_uploads, methods=["POST"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(CountAnswers, stats=api.stats)])
    app.state.emulator = api
    return app
