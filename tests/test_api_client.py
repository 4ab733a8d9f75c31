"""The 1min.ai client against httpx.MockTransport: payloads, answers, and every kind of failure."""

from __future__ import annotations

import asyncio
import email.utils
import io
import json
import socket
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest

from runner import __version__
from runner.api.client import Generation, OneMinClient, Timeouts
from runner.api.errors import (
    MAX_RETRY_AFTER_S,
    ApiProtocolError,
    AuthError,
    CreditsError,
    FatalApiError,
    RateBanned,
    RateLimited,
    RejectedError,
    RetryableError,
    TransientError,
    UnreachableError,
)
from runner.api.network import connect_failure, display_url, parse_retry_after
from runner.diagnostics import ApiError

KEY = "sk-test-Zq8UNIQUE-key-4711"
Handler = Callable[[httpx.Request], httpx.Response]

SUCCESS = {
    "aiRecord": {
        "uuid": "rec-123",
        "status": "SUCCESS",
        "teamUser": {"creditLimit": 100000, "usedCredit": 2500},
        "aiRecordDetail": {
            "promptObject": {},
            "resultObject": ["images/a_background_replaced.png", "images/b.png"],
            "responseObject": {},
        },
        "temporaryUrl": "https://s3.test/images/a_background_replaced.png?X-Amz-Signature=abc",
    }
}
PROMPT = {"imageUrl": "images/src.png", "prompt": "a beach", "size": "1024x1024", "n": 2,
          "quality": "low", "output_format": "png", "output_compression": 100}  # fmt: skip


def run(
    handler: Handler, call: Callable[[OneMinClient], Coroutine[Any, Any, Any]], **kw: Any
) -> Any:
    async def main() -> Any:
        async with OneMinClient(
            api_key=KEY,
            base_url="https://api.test",
            asset_base_url="https://asset.test",
            transport=httpx.MockTransport(handler),
            **kw,
        ) as client:
            return await call(client)

    return asyncio.run(main())


def answer(status: int, body: Any = None, **kw: Any) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes | str):
            return httpx.Response(status, content=body, **kw)
        return httpx.Response(status, json=body, **kw)

    return handler


def raising(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


def generate(client: OneMinClient) -> Coroutine[Any, Any, Generation]:
    return client.generate(PROMPT)


# -- happy paths -----------------------------------------------------------------------------


def test_generate_sends_the_documented_payload_with_the_key_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=SUCCESS)

    result = run(handler, generate)
    request = seen[0]
    assert request.method == "POST"
    assert request.url == "https://api.test/api/features"
    assert request.headers["API-KEY"] == KEY
    assert request.headers["User-Agent"] == f"backdrop/{__version__}"
    assert json.loads(request.content) == {
        "type": "BACKGROUND_REPLACER",
        "model": "gpt-image-1",
        "promptObject": PROMPT,
    }
    assert request.extensions["timeout"]["read"] == 600.0
    assert result == Generation(
        uuid="rec-123",
        result_keys=("images/a_background_replaced.png", "images/b.png"),
        temporary_url="https://s3.test/images/a_background_replaced.png?X-Amz-Signature=abc",
        credits_left=97500,
        raw_status="SUCCESS",
    )


def test_timeouts_are_configurable() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=SUCCESS)

    run(handler, generate, timeout=Timeouts(connect=3, generate=900))
    assert seen[0].extensions["timeout"]["read"] == 900
    assert seen[0].extensions["timeout"]["connect"] == 3


def test_upload_sends_the_file_in_the_asset_field_and_returns_the_path() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={
            "asset": {"key": "images/by-key.png", "mimetype": "image/png", "size": 4},
            "fileContent": {"uuid": "f1", "path": "images/2024_x.png"},
        })  # fmt: skip

    key = run(handler, lambda c: c.upload_asset(b"\x89PNG", "mug.png", "image/png"))
    assert key == "images/2024_x.png"
    request = seen[0]
    assert request.url == "https://api.test/api/assets"
    assert request.headers["API-KEY"] == KEY
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    body = request.content
    assert b'Content-Disposition: form-data; name="asset"; filename="mug.png"' in body
    assert b"Content-Type: image/png" in body
    assert b"\x89PNG" in body


def test_upload_falls_back_to_the_asset_key() -> None:
    handler = answer(200, {"asset": {"key": "images/by-key.png"}, "fileContent": {}})
    assert run(handler, lambda c: c.upload_asset(b"x", "a.png", "image/png")) == "images/by-key.png"


@pytest.mark.parametrize("body", [{"asset": {}}, {"fileContent": {"path": ""}}, [1, 2]])
def test_an_upload_answer_without_a_key_is_a_protocol_error(body: Any) -> None:
    with pytest.raises(ApiProtocolError):
        run(answer(200, body), lambda c: c.upload_asset(b"x", "a.png", "image/png"))


# -- how failures are classified ---------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_an_auth_error_that_stops_the_run(status: int) -> None:
    with pytest.raises(AuthError) as err:
        run(answer(status, {"message": "Unauthorized"}), generate)
    assert isinstance(err.value, FatalApiError) and isinstance(err.value, ApiError)
    assert err.value.message == f"the API key was refused (HTTP {status}): Unauthorized"
    assert "ONEMIN_API_KEY" in (err.value.hint or "")


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"message": "Insufficient credits to complete this request"}),
        (403, {"errorCode": "INSUFFICIENT_CREDITS", "message": "Forbidden"}),
        (400, {"errorCode": "CREDIT_LIMIT_EXCEEDED"}),
        (429, {"message": "You have run out of credits"}),
        (402, {}),
        (200, {"message": "Not enough credits"}),
        (403, {"message": "You do not have enough credits"}),
        (400, {"message": "Insufficient balance. Please upgrade your plan."}),
        (400, {"error": {"message": "Payment required: top up to continue"}}),
    ],
)
def test_running_out_of_credits_is_recognised_liberally(status: int, body: Any) -> None:
    with pytest.raises(CreditsError) as err:
        run(answer(status, body), generate)
    assert isinstance(err.value, FatalApiError)
    assert err.value.message.startswith("out of credits")


@pytest.mark.parametrize(
    "body",
    [
        {"message": "Forbidden: too many requests, temporarily banned"},
        {"errorCode": "RATE_LIMIT_EXCEEDED", "message": "Forbidden"},
    ],
)
def test_a_403_for_sending_too_fast_is_a_ban_not_a_refused_key(body: Any) -> None:
    with pytest.raises(RateBanned) as err:
        run(answer(403, body), generate)
    assert isinstance(err.value, FatalApiError) and not isinstance(err.value, AuthError)
    assert err.value.message.startswith("the API stopped taking requests (HTTP 403): ")
    assert "--rpm" in (err.value.hint or "") and "ONEMIN_API_KEY" not in (err.value.hint or "")


@pytest.mark.parametrize(
    ("status", "body", "kw", "said"),
    [
        (200, {"success": False, "message": "Something went wrong"}, {},
         "the generation answer has no aiRecord: Something went wrong"),
        (200, "<html><body><h1>Down for maintenance</h1></body></html>",
         {"headers": {"Content-Type": "text/html; charset=utf-8"}},
         "the generation answer (HTTP 200) is not JSON (text/html: Down for maintenance)"),
        (200, b"", {}, "the generation answer (HTTP 200) is not JSON (no type, empty)"),
    ],
)  # fmt: skip
def test_an_unusable_success_answer_says_what_the_api_said(
    status: int, body: Any, kw: dict[str, Any], said: str
) -> None:
    with pytest.raises(ApiProtocolError) as err:
        run(answer(status, body, **kw), generate)
    assert err.value.message == said


def dripping(body: bytes, chunks: int, pause: float) -> Handler:
    """An answer sent a little at a time: each wait is short, the whole is long."""

    async def drip() -> AsyncIterator[bytes]:
        step = max(1, len(body) // chunks)
        for i in range(0, len(body), step):
            await asyncio.sleep(pause)
            yield body[i : i + step]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=drip())

    return handler


def test_a_generation_answer_dripping_in_is_cut_at_the_generation_timeout() -> None:
    slow = dripping(json.dumps(SUCCESS).encode(), chunks=20, pause=0.05)  # 1 s in all
    with pytest.raises(TransientError) as err:
        run(slow, generate, timeout=Timeouts(generate=0.2))
    assert err.value.message == (
        "generating at api.test: the answer came too slowly (not complete after 0.2 s)"
    )


def test_a_download_dripping_in_is_cut_at_the_download_timeout() -> None:
    slow = dripping(b"x" * 200, chunks=20, pause=0.05)
    with pytest.raises(TransientError, match="came too slowly"):
        run(slow, lambda c: c.download("images/a.png", io.BytesIO(), max_bytes=10**6),
            timeout=Timeouts(download=0.2))  # fmt: skip


def test_a_success_without_result_keys_falls_back_to_its_temporary_url() -> None:
    body = json.loads(json.dumps(SUCCESS))
    del body["aiRecord"]["aiRecordDetail"]["resultObject"]
    generation = run(answer(200, body), generate)
    assert generation.result_keys == (SUCCESS["aiRecord"]["temporaryUrl"],)


def test_a_failed_record_mentioning_credits_is_a_credits_error() -> None:
    body = {"aiRecord": {"uuid": "r", "status": "FAILED", "message": "credit limit reached"}}
    with pytest.raises(CreditsError):
        run(answer(200, body), generate)


def test_other_4xx_carry_the_apis_own_message_and_code() -> None:
    body = {"errorCode": "UNSUPPORTED_MODEL", "message": "Model gpt-image-1\nis not available"}
    with pytest.raises(RejectedError) as err:
        run(answer(400, body), generate)
    assert err.value.message == (
        "the API refused the request (HTTP 400): Model gpt-image-1 is not available "
        "[UNSUPPORTED_MODEL]"
    )
    assert err.value.status == 400 and err.value.error_code == "UNSUPPORTED_MODEL"
    assert not isinstance(err.value, RetryableError | FatalApiError)


def test_a_4xx_without_a_json_body_still_says_what_happened() -> None:
    with pytest.raises(RejectedError, match=r"^the API refused the request \(HTTP 404\)$"):
        run(answer(404, "<html>not found</html>"), generate)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(status: int) -> None:
    with pytest.raises(TransientError) as err:
        run(answer(status, "<html>\n<h1>Gateway Timeout</h1>\n</html>"), generate)
    assert isinstance(err.value, RetryableError)
    assert err.value.message == f"the API failed (HTTP {status})"
    assert err.value.status == status


def test_a_503_with_retry_after_says_when_to_come_back() -> None:
    with pytest.raises(TransientError) as err:
        run(answer(503, {"message": "Down"}, headers={"Retry-After": "7"}), generate)
    assert err.value.retry_after == 7.0


@pytest.mark.parametrize("status", [404, 405])
def test_an_upload_route_that_does_not_exist_means_a_wrong_api_address(status: int) -> None:
    with pytest.raises(UnreachableError) as err:
        run(
            answer(status, {"message": "Cannot POST"}),
            lambda c: c.upload_asset(b"x", "a.png", "image/png"),
        )
    assert err.value.message == (
        f"cannot reach the API at https://api.test (POST /api/assets answered HTTP {status})"
    )
    assert "ONEMIN_API_URL" in (err.value.hint or "")


def test_429_without_retry_after() -> None:
    with pytest.raises(RateLimited) as err:
        run(answer(429, {"message": "Too many requests"}), generate)
    assert err.value.retry_after is None
    assert isinstance(err.value, RetryableError)
    assert err.value.message == "too many requests (HTTP 429): Too many requests"


def test_429_with_retry_after_in_seconds() -> None:
    with pytest.raises(RateLimited) as err:
        run(answer(429, {}, headers={"Retry-After": "7"}), generate)
    assert err.value.retry_after == 7.0
    assert err.value.message == "too many requests (HTTP 429); the API asks to wait 7 s"


@pytest.mark.parametrize(
    ("header", "said"),
    [("2300049000", "300 s (the longest backdrop waits)"), ("0.5", "0.5 s"), ("42.4", "42 s")],
)
def test_429_says_the_wait_that_is_kept_not_the_one_asked(header: str, said: str) -> None:
    with pytest.raises(RateLimited) as err:
        run(answer(429, {"message": "slow down"}, headers={"Retry-After": header}), generate)
    assert err.value.retry_after == min(float(header), MAX_RETRY_AFTER_S)
    assert (
        err.value.message == f"too many requests (HTTP 429); the API asks to wait {said}: slow down"
    )
    assert "e+" not in err.value.message


def test_429_with_retry_after_as_an_http_date() -> None:
    future = email.utils.formatdate(4_000_000_000, usegmt=True)  # the year 2096
    with pytest.raises(RateLimited) as err:
        run(answer(429, {}, headers={"Retry-After": future}), generate)
    assert err.value.retry_after == MAX_RETRY_AFTER_S  # decades away: capped


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: go now
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert parse_retry_after(header, now=now) == expected


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ConnectError("Connection refused"), "could not connect"),
        (httpx.ConnectTimeout("timed out"), "could not connect in time"),
        (httpx.ReadTimeout("timed out"), "no answer in time"),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."),
         "the connection was dropped"),
        (httpx.ReadError("Connection reset by peer"), "the connection broke"),
    ],
)  # fmt: skip
def test_network_failures_are_transient(exc: Exception, kind: str) -> None:
    with pytest.raises(TransientError) as err:
        run(raising(exc), generate)
    assert err.value.message.startswith(f"generating at api.test: {kind} (")
    assert err.value.__cause__ is None and err.value.__suppress_context__
    never_connected = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
    assert (err.value.connect_failure is not None) == never_connected


def test_connect_failures_name_their_cause() -> None:
    def chained(cause: BaseException) -> httpx.ConnectError:
        try:
            try:
                raise cause
            except OSError as inner:
                raise OSError("All connection attempts failed") from inner
        except OSError as outer:
            error = httpx.ConnectError(str(outer))
            error.__cause__ = outer
            return error

    refused = ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)")
    assert connect_failure(chained(refused)) == "connection refused"
    no_name = socket.gaierror(-2, "Name or service not known")
    assert connect_failure(chained(no_name)) == "host name not found"
    assert connect_failure(httpx.ConnectTimeout("timed out")) == "timed out connecting"
    assert connect_failure(httpx.ConnectError("boom")) == "could not connect"
    assert connect_failure(httpx.ReadTimeout("timed out")) is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [("http://127.0.0.1:1", "http://127.0.0.1:1"),
     ("https://user:s3cret@api.test:8443/v1/?token=x", "https://api.test:8443/v1"),
     ("https://api.1min.ai/", "https://api.1min.ai")],
)  # fmt: skip
def test_display_url_never_shows_credentials(url: str, shown: str) -> None:
    assert display_url(url) == shown


@pytest.mark.parametrize(
    "body",
    [b"<html>ok</html>", b"", {"aiRecord": {"status": "SUCCESS", "uuid": "r"}},
     {"aiRecord": {"status": "SUCCESS", "aiRecordDetail": {"resultObject": ["k"]}}},
     {"nothing": "here"}],
)  # fmt: skip
def test_unreadable_success_answers_are_protocol_errors(body: Any) -> None:
    with pytest.raises(ApiProtocolError):
        run(answer(200, body), generate)


def test_a_record_that_did_not_succeed_is_rejected() -> None:
    body = {"aiRecord": {"uuid": "r", "status": "FAILED", "message": "content policy"}}
    with pytest.raises(RejectedError, match="ended with status FAILED: content policy"):
        run(answer(200, body), generate)


@pytest.mark.parametrize("status", ["PROCESSING", "pending", "QUEUED"])
def test_an_unfinished_record_is_not_a_refusal(status: str) -> None:
    # A RejectedError would clear the "sent" mark: the next run would pay again, unannounced.
    body = {"aiRecord": {"uuid": "r-9", "status": status}}
    with pytest.raises(ApiProtocolError) as err:
        run(answer(200, body), generate)
    assert err.value.message.startswith(f"the generation r-9 is not finished (status {status})")
    assert "may be charged" in err.value.message


# -- downloads ---------------------------------------------------------------------------------


class _Stream(httpx.AsyncByteStream):
    def __init__(self, chunks: list[bytes], fail: Exception | None = None) -> None:
        self.chunks, self.fail = chunks, fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.fail:
            raise self.fail


def download(key: str = "images/r 1.png", **kw: Any) -> Callable[[OneMinClient], Any]:
    async def call(client: OneMinClient) -> tuple[int, bytes]:
        sink = io.BytesIO()
        count = await client.download(key, sink, max_bytes=kw.pop("max_bytes", 10_000), **kw)
        return count, sink.getvalue()

    return call


def test_download_streams_from_the_asset_host_without_the_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, stream=_Stream([b"abc", b"def"]))

    assert run(handler, download()) == (6, b"abcdef")
    assert str(seen[0].url) == "https://asset.test/images/r%201.png"
    assert "API-KEY" not in seen[0].headers
    assert KEY not in str(seen[0].headers)


def test_download_prefers_the_presigned_url_when_given() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"img")

    url = "https://s3.test/images/a.png?X-Amz-Signature=abc"
    assert run(handler, download(url=url)) == (3, b"img")
    assert str(seen[0].url) == url
    assert "API-KEY" not in seen[0].headers


def test_a_result_given_as_a_full_link_is_downloaded_from_it() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"img")

    link = "https://cdn.test/images/a.png?X-Amz-Signature=abc"
    assert run(handler, download(key=link)) == (3, b"img")
    assert [str(r.url) for r in seen] == [link]
    assert "API-KEY" not in seen[0].headers


def test_download_follows_a_redirect_of_the_asset_host() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "asset.test":
            return httpx.Response(302, headers={"Location": "https://bucket.test/images/a.png"})
        return httpx.Response(200, content=b"img")

    assert run(handler, download("images/a.png")) == (3, b"img")
    assert [r.url.host for r in seen] == ["asset.test", "bucket.test"]
    assert all("API-KEY" not in r.headers for r in seen)


def test_api_requests_never_follow_redirects() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(307, headers={"Location": "https://elsewhere.test/api/features"})

    with pytest.raises(ApiProtocolError, match="unexpected HTTP 307"):
        run(handler, generate)
    assert len(seen) == 1  # the key is not sent on to another host


def test_download_refuses_an_oversized_result_by_its_content_length() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        never = _Stream([], fail=AssertionError("the body must not be read"))
        return httpx.Response(200, headers={"Content-Length": "999999"}, stream=never)

    with pytest.raises(RejectedError, match="999999 bytes, over the 100-byte cap"):
        run(handler, download(max_bytes=100))


def test_download_refuses_an_oversized_result_while_streaming() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Stream([b"x" * 60] * 3))  # no Content-Length

    with pytest.raises(RejectedError, match="larger than the 100-byte cap"):
        run(handler, download(max_bytes=100))


def test_a_body_shorter_than_its_content_length_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "100"}, stream=_Stream([b"x" * 40]))

    with pytest.raises(TransientError, match=r"cut short \(40 of 100 bytes\)"):
        run(handler, download())


def test_a_connection_dropped_mid_download_is_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        dropped = httpx.RemoteProtocolError("peer closed connection")
        return httpx.Response(200, stream=_Stream([b"x" * 40], fail=dropped))

    with pytest.raises(TransientError, match="the connection was dropped"):
        run(handler, download())


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, RejectedError), (404, RejectedError), (503, TransientError), (429, RateLimited)],
)
def test_download_failures_never_stop_the_run(status: int, error: type[Exception]) -> None:
    with pytest.raises(error) as err:
        run(answer(status, b"<Error>AccessDenied</Error>"), download())
    assert not isinstance(err.value, FatalApiError)


# -- the key never leaks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "handler",
    [
        answer(400, {"message": f"bad key {KEY} for this model", "errorCode": KEY}),
        answer(401, {"message": f"API key {KEY} is invalid"}),
        answer(429, {"message": f"slow down {KEY}"}),
        answer(500, {"message": f"internal error for {KEY}"}),
        answer(200, {"aiRecord": {"uuid": "r", "status": "FAILED", "message": KEY}}),
        raising(httpx.ConnectError(f"cannot connect with headers API-KEY: {KEY}")),
        raising(httpx.ReadTimeout(f"read timed out {KEY}")),
    ],
)
def test_no_error_ever_shows_the_api_key(handler: Handler) -> None:
    with pytest.raises(ApiError) as err:
        run(handler, generate)
    exc = err.value
    texts = [str(exc), repr(exc), exc.message, exc.hint or "", *traceback.format_exception(exc)]
    for text in texts:
        assert KEY not in text
    assert "[redacted]" in str(exc)


def test_the_client_repr_does_not_show_the_key() -> None:
    client = OneMinClient(api_key=KEY)
    assert KEY not in repr(client)
    asyncio.run(client.aclose())


def test_429_with_retry_after_zero_says_to_try_again_now() -> None:
    with pytest.raises(RateLimited) as err:
        run(answer(429, {}, headers={"Retry-After": "0"}), generate)
    assert err.value.retry_after == 0.0
    assert err.value.message == "too many requests (HTTP 429); try again now"
