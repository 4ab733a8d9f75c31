"""An async 1min.ai client: upload, generate, download. It classifies failures; it never retries.

One shared httpx.AsyncClient (HTTP/1.1, keep-alive) serves the API host and the asset host. The
key travels only in the `API-KEY` header of /api/* requests; downloads (a different host, or a
presigned URL) never carry it, and every message we surface has it redacted.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

from runner import __version__
from runner.api.errors import (
    ApiProtocolError,
    AuthError,
    CreditsError,
    RateBanned,
    RateLimited,
    RejectedError,
    TransientError,
    UnknownAssetError,
    UnreachableError,
    cap_retry_after,
)
from runner.api.limits import FEATURE_TYPE, MODEL
from runner.api.network import (
    connect_failure,
    display_url,
    format_wait,
    host_of,
    parse_retry_after,
)
from runner.api.timeouts import Timeouts
from runner.api.unknown_asset import says_asset_unknown

USER_AGENT = f"backdrop/{__version__}"
REDACTED = "[redacted]"
# httpcore's pool walks every connection once per idle connection each time a request starts or
# ends (quadratic): with 100+ generations in flight, unbounded idle connections cost more CPU than
# the whole run. Past this many connections, one that falls idle is closed instead of kept.
MAX_IDLE_CONNECTIONS = 16
_MAX_MESSAGE = 300
_CREDITS_WORDS = re.compile(
    r"insufficient|enough|exceed|limit|out of|no more|run out|ran out|exhaust|deplet|"
    r"balance|top up|purchase",
)
# Out of money without the word "credit": other APIs say "Insufficient balance".
_BALANCE_WORDS = re.compile(
    r"insufficient (balance|funds)|(no|zero|not enough) (remaining )?(balance|funds)|"
    r"payment required"
)
# Statuses that say "accepted, still working": an asynchronous API, not a refusal.
_UNFINISHED = frozenset({"PENDING", "PROCESSING", "QUEUED", "RUNNING", "IN_PROGRESS", "STARTED"})
_TAGS = re.compile(r"<[^>]*>")
# A 403 that says why: a rate-limit ban, not a refused key.
_RATE_WORDS = re.compile(r"too many requests|rate.?limit|throttl|banned|slow down")


_DEFAULT_TIMEOUTS = Timeouts()


@dataclass(frozen=True)
class Generation:
    """The API's answer to one paid generation."""

    uuid: str
    result_keys: tuple[str, ...]
    temporary_url: str | None  # presigned link to the first result, valid for 7 days
    credits_left: int | None  # creditLimit - usedCredit
    raw_status: str


@functools.cache
def tls_context() -> ssl.SSLContext:
    """certifi's CA certificates, as httpx loads them by default: loaded once per process (30 ms
    of CPU each time), not once per client. The environment's SSL_CERT_FILE is ignored, as
    trust_env=False says."""
    return httpx.create_ssl_context(trust_env=False)


class OneMinClient:
    """Talks to 1min.ai (or the emulator). Use as `async with OneMinClient(...) as client:`."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "https://api.1min.ai",
        asset_base_url: str = "https://asset.1min.ai",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: Timeouts = _DEFAULT_TIMEOUTS,
        max_connections: int = 64,
    ) -> None:
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.asset_base_url = asset_base_url.rstrip("/")
        self.timeouts = timeout
        self.display_url = display_url(self.base_url)  # never with user:password@
        self._api_host = host_of(self.base_url) or self.display_url
        self._http = httpx.AsyncClient(
            http1=True,
            http2=False,
            transport=transport,
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=min(max_connections, MAX_IDLE_CONNECTIONS),
                keepalive_expiry=30.0,
            ),
            headers={"User-Agent": USER_AGENT},
            timeout=httpx.Timeout(timeout.download, connect=timeout.connect, pool=timeout.pool),
            follow_redirects=False,
            trust_env=False,
            verify=tls_context(),
        )

    async def __aenter__(self) -> OneMinClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def __repr__(self) -> str:
        return f"OneMinClient(base_url={self.base_url!r}, asset_base_url={self.asset_base_url!r})"

    # -- the three calls ---------------------------------------------------------------------

    async def upload_asset(self, data: bytes, filename: str, mimetype: str) -> str:
        """Upload a source image; return the key that goes into promptObject.imageUrl."""
        timeout = self._timeout(self.timeouts.upload)
        response = await self._api_request(
            "POST",
            "/api/assets",
            what="uploading an image",
            files={"asset": (filename, data, mimetype)},
            timeout=timeout,
        )
        body = self._json(response, "the upload")
        file_content = body.get("fileContent")
        asset = body.get("asset")
        for holder, field in ((file_content, "path"), (asset, "key")):
            if isinstance(holder, Mapping):
                value = holder.get(field)
                if isinstance(value, str) and value:
                    return value
        raise ApiProtocolError(
            "the upload answer has neither fileContent.path nor asset.key",
            status=response.status_code,
        )

    async def generate(self, prompt_object: Mapping[str, Any]) -> Generation:
        """Run one background replacement (paid). Raises unless the record's status is SUCCESS."""
        payload = {"type": FEATURE_TYPE, "model": MODEL, "promptObject": dict(prompt_object)}
        response = await self._api_request(
            "POST",
            "/api/features",
            what="generating",
            json=payload,
            timeout=self._timeout(self.timeouts.generate),
        )
        body = self._json(response, "the generation")
        return self._parse_generation(body, response.status_code)

    async def download(
        self, key: str, dest: BinaryIO, *, max_bytes: int, url: str | None = None
    ) -> int:
        """Stream a result into `dest`; return the byte count. No key is sent to the asset host.

        Refuses more than `max_bytes` (by Content-Length first, then while streaming) and reports
        a body shorter than its Content-Length as a TransientError, so the caller retries.
        """
        if url is None and key.startswith(("https://", "http://")):
            url = key  # some answers give the result as a full link, not a key
            key = display_url(key)  # for messages: no presigned signature
        target = url or f"{self.asset_base_url}/{quote(key.lstrip('/'), safe='/')}"
        where = host_of(target) or "the asset host"
        try:
            async with self._http.stream(
                "GET",
                target,
                headers={"Accept-Encoding": "identity"},
                timeout=self._timeout(self.timeouts.download),
                follow_redirects=True,  # safe: downloads carry no key; the API never redirects
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise self._download_error(response, key)
                declared = _content_length(response)
                if declared is not None and declared > max_bytes:
                    raise RejectedError(
                        f"the result {key} is {declared} bytes, over the {max_bytes}-byte cap",
                        status=200,
                    )
                received = 0
                try:
                    async with asyncio.timeout(self.timeouts.download):
                        async for chunk in response.aiter_bytes():
                            received += len(chunk)
                            if received > max_bytes:
                                raise RejectedError(
                                    f"the result {key} is larger than the {max_bytes}-byte cap",
                                    status=200,
                                )
                            dest.write(chunk)
                except TimeoutError:
                    raise _TooSlow from None
        except httpx.HTTPError as exc:
            raise self._network_error(exc, f"downloading {key} from {where}") from None
        except _TooSlow:
            doing = f"downloading {key} from {where}"
            raise self._too_slow(doing, self.timeouts.download) from None
        if declared is not None and received < declared:
            raise TransientError(
                f"the download of {key} was cut short ({received} of {declared} bytes)"
            )
        if received == 0:
            raise TransientError(f"the download of {key} was empty")
        return received

    # -- plumbing ----------------------------------------------------------------------------

    def _timeout(self, read: float) -> httpx.Timeout:
        t = self.timeouts
        return httpx.Timeout(connect=t.connect, read=read, write=t.upload, pool=t.pool)

    async def _api_request(
        self, method: str, path: str, *, what: str, **kwargs: Any
    ) -> httpx.Response:
        headers = {"API-KEY": self._api_key, "Accept": "application/json"}
        timeout: httpx.Timeout = kwargs["timeout"]
        try:
            async with self._http.stream(
                method, f"{self.base_url}{path}", headers=headers, **kwargs
            ) as response:
                await _read_within(response, timeout.read)
        except httpx.HTTPError as exc:
            raise self._network_error(exc, f"{what} at {self._api_host}") from None
        except _TooSlow:
            raise self._too_slow(f"{what} at {self._api_host}", timeout.read or 0.0) from None
        if response.status_code in (404, 405) and path == "/api/assets":
            # The upload route always exists on the real API: the address is wrong.
            raise UnreachableError(
                self.display_url, f"POST {path} answered HTTP {response.status_code}"
            )
        if response.status_code >= 300:
            raise self._api_error(response, generation=path == "/api/features")
        return response

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, REDACTED) if self._api_key else text

    def _one_line(self, text: str) -> str:
        line = " ".join(self._redact(text).split())
        return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 3] + "..."

    def _too_slow(self, doing: str, seconds: float) -> TransientError:
        return TransientError(
            f"{doing}: the answer came too slowly (not complete after {format_wait(seconds)})",
            "check the network and run again",
        )

    def _network_error(self, exc: httpx.HTTPError, doing: str) -> TransientError:
        kinds: dict[type[Exception], str] = {
            httpx.ConnectTimeout: "could not connect in time",
            httpx.ReadTimeout: "no answer in time",
            httpx.WriteTimeout: "could not send in time",
            httpx.PoolTimeout: "no free connection in time",
            httpx.ConnectError: "could not connect",
            httpx.RemoteProtocolError: "the connection was dropped",
            httpx.ReadError: "the connection broke",
            httpx.WriteError: "the connection broke",
        }
        kind = kinds.get(type(exc), "network error")
        detail = self._one_line(str(exc))
        detail = f" ({type(exc).__name__}: {detail})" if detail else f" ({type(exc).__name__})"
        return TransientError(
            f"{doing}: {kind}{detail}",
            "check the network and run again",
            connect_failure=connect_failure(exc),
            maybe_processed=not isinstance(exc, _NEVER_SENT),
        )

    def _api_error(self, response: httpx.Response, *, generation: bool = False) -> Exception:
        status = response.status_code
        message, code = self._error_text(response)
        said = f": {message}" if message else ""
        said += f" [{code}]" if code else ""
        if 400 <= status < 500 and (status == 402 or _mentions_credits(message, code)):
            return CreditsError(f"out of credits (HTTP {status}){said}", status=status)
        if status == 403 and _RATE_WORDS.search(f"{message} {code or ''}".lower()):
            return RateBanned(f"the API stopped taking requests (HTTP 403){said}", status=status)
        if status in (401, 403):
            return AuthError(f"the API key was refused (HTTP {status}){said}", status=status)
        if status == 429:
            wait = cap_retry_after(parse_retry_after(response.headers.get("Retry-After")))
            asked = ""
            if wait is not None:
                asked = f"; the API asks to wait {format_wait(wait)}" if wait else "; try again now"
            return RateLimited(f"too many requests (HTTP 429){asked}{said}", wait)
        if status >= 500:
            error = TransientError(f"the API failed (HTTP {status}){said}", status=status)
            # A 503 may say when to come back (RFC 9110); honoured like a 429's.
            error.retry_after = cap_retry_after(
                parse_retry_after(response.headers.get("Retry-After"))
            )
            return error
        if 400 <= status < 500:
            text = f"the API refused the request (HTTP {status}){said}"
            kind = RejectedError
            content_type = response.headers.get("Content-Type", "")
            if generation and says_asset_unknown(status, response.content, content_type):
                kind = UnknownAssetError
            return kind(text, status=status, error_code=code)
        return ApiProtocolError(f"unexpected HTTP {status} from {self._api_host}", status=status)

    def _download_error(self, response: httpx.Response, key: str) -> Exception:
        status = response.status_code
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return RateLimited(f"too many downloads (HTTP 429) for {key}", retry_after)
        if status >= 500:
            return TransientError(f"the asset host failed (HTTP {status}) for {key}", status=status)
        hint = (
            "the link may have expired; the asset host URL is tried next"
            if status
            in (
                401,
                403,
            )
            else None
        )
        return RejectedError(
            f"the download of {key} was refused (HTTP {status})", status=status, hint=hint
        )

    def _error_text(self, response: httpx.Response) -> tuple[str, str | None]:
        try:
            body = json.loads(response.content)
        except ValueError:
            return "", None
        if not isinstance(body, Mapping):
            return "", None
        message = body.get("message") or body.get("error") or ""
        if isinstance(message, Mapping):
            message = message.get("message", "")
        code = body.get("errorCode") or body.get("code")
        return self._one_line(str(message)), (self._one_line(str(code)) if code else None)

    def _json(self, response: httpx.Response, what: str) -> Mapping[str, Any]:
        try:
            body = json.loads(response.content)
        except ValueError:
            raise ApiProtocolError(
                f"{what} answer (HTTP {response.status_code}) is not JSON"
                f" ({self._excerpt(response)})",
                status=response.status_code,
            ) from None
        if not isinstance(body, Mapping):
            raise ApiProtocolError(f"{what} answer is not a JSON object")
        return body

    def _parse_generation(self, body: Mapping[str, Any], status_code: int) -> Generation:
        record = body.get("aiRecord")
        if not isinstance(record, Mapping):
            message, code = self._error_text_from(body)
            if _mentions_credits(message, code):
                raise CreditsError(f"out of credits: {message}", status=status_code)
            said = f": {message}" if message else ""
            said += f" [{code}]" if code else ""
            raise ApiProtocolError(
                f"the generation answer has no aiRecord{said}", status=status_code
            )
        status = str(record.get("status", ""))
        uuid = record.get("uuid")
        if status != "SUCCESS":
            message, code = self._error_text_from(record)
            said = f": {message}" if message else ""
            if _mentions_credits(message, code):
                raise CreditsError(f"out of credits{said}", status=status_code)
            if status.upper() in _UNFINISHED:
                # Not a refusal: the work was accepted, and may be charged. A protocol error
                # keeps the request on record as sent, so the next run lists it.
                raise ApiProtocolError(
                    f"the generation {self._one_line(str(uuid))} is not finished (status"
                    f" {self._one_line(status)}): backdrop expects the result in the answer"
                    " and cannot wait for it; it may be charged",
                    status=status_code,
                )
            # An unknown asset said in a failed record is the same refusal as said in a 4xx.
            words = json.dumps({"message": message, "errorCode": code}).encode()
            kind = UnknownAssetError if says_asset_unknown(400, words) else RejectedError
            raise kind(
                f"the generation ended with status {self._one_line(status) or 'unknown'}{said}",
                status=status_code,
                error_code=code,
            )
        detail = record.get("aiRecordDetail")
        results = detail.get("resultObject") if isinstance(detail, Mapping) else None
        if isinstance(results, str):
            results = [results]
        temporary = record.get("temporaryUrl") or body.get("temporaryUrl")
        if not results and isinstance(temporary, str) and temporary:
            # Paid for, and the link is the only pointer to the image: better than nothing.
            results = [temporary]
        if not isinstance(uuid, str) or not uuid:
            raise ApiProtocolError("the generation answer has no aiRecord.uuid")
        if (
            not isinstance(results, list)
            or not results
            or not all(isinstance(r, str) and r for r in results)
        ):
            raise ApiProtocolError(
                f"the generation {uuid} answer has no result images (aiRecordDetail.resultObject)"
            )
        return Generation(
            uuid=uuid,
            result_keys=tuple(results),
            temporary_url=temporary if isinstance(temporary, str) and temporary else None,
            credits_left=_credits_left(record.get("teamUser")),
            raw_status=status,
        )

    def _excerpt(self, response: httpx.Response) -> str:
        """What a body that is not JSON says, for the message: its type and first words."""
        text = _TAGS.sub(" ", response.content[:2000].decode("utf-8", "replace"))
        words = self._one_line(text)[:80]
        kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no type"
        return f"{kind}: {words}" if words else f"{kind}, empty"

    def _error_text_from(self, body: Mapping[str, Any]) -> tuple[str, str | None]:
        message = body.get("message") or body.get("error") or ""
        code = body.get("errorCode")
        return self._one_line(str(message)), (self._one_line(str(code)) if code else None)


def _mentions_credits(message: str, code: str | None) -> bool:
    text = f"{message} {code or ''}".lower().replace("_", " ")
    if _BALANCE_WORDS.search(text):
        return True
    return "credit" in text and bool(_CREDITS_WORDS.search(text))


def _credits_left(team_user: object) -> int | None:
    if not isinstance(team_user, Mapping):
        return None
    limit, used = team_user.get("creditLimit"), team_user.get("usedCredit")
    if isinstance(limit, bool) or isinstance(used, bool):
        return None
    if isinstance(limit, int | float) and isinstance(used, int | float):
        return int(limit - used)
    return None


# Failures before the whole request went out: the API cannot have acted on it.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError,
               httpx.WriteTimeout)  # fmt: skip


class _TooSlow(Exception):
    """A body still arriving when its deadline passed (a server dripping bytes)."""


async def _read_within(response: httpx.Response, seconds: float | None) -> None:
    """Read the whole body within `seconds`: the read timeout only bounds each chunk's wait, so a
    server sending a byte a second would otherwise hold the request for hours."""
    try:
        async with asyncio.timeout(seconds):
            await response.aread()
    except TimeoutError:
        raise _TooSlow from None


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or response.headers.get("Content-Encoding"):
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None
