"""What the emulator answers besides success: API errors, gateway pages, S3 errors, hang-ups;
and the middleware that counts every answer by route and status.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runner.api import limits
from runner.emulator.faults import DroppedConnection, InjectedDisconnect, TruncatedDownload
from runner.emulator.ledger import Stats


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bad_request(message: str, error_code: str | None = None) -> JSONResponse:
    body = {"message": message}
    if error_code is not None:
        body = {"errorCode": error_code, **body}
    return JSONResponse(body, 400)


def too_large() -> JSONResponse:
    megabytes = limits.MAX_UPLOAD_BYTES // (1024 * 1024)
    return JSONResponse({"message": f"The file is larger than {megabytes} MB"}, 413)


_GATEWAY_PAGES = {502: "Bad Gateway", 504: "Gateway Time-out"}


def server_error(status: int, message: str | None = None) -> Response:
    """500/503 as JSON from the app; 502/504 as the HTML page a gateway in front would send."""
    if status in _GATEWAY_PAGES:
        title = f"{status} {_GATEWAY_PAGES[status]}"
        page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>\n"
        return Response(page, status, media_type="text/html")
    if message is None:
        message = "Internal Server Error" if status == 500 else "Service Unavailable"
    return JSONResponse({"message": message}, status)


def s3_error(status: int, code: str, message: str) -> Response:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(body, status, media_type="application/xml")


class HangUp(Response):
    """Announces the whole body (Content-Length), sends `sent` bytes of it, then hangs up."""

    def __init__(self, body: bytes, sent: int, media_type: str, *, truncated: bool = False) -> None:
        super().__init__(body, 200, media_type=media_type)
        self.sent = sent
        self.truncated = truncated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if self.sent:
            await send(
                {"type": "http.response.body", "body": self.body[: self.sent], "more_body": True}
            )
        kind = TruncatedDownload if self.truncated else DroppedConnection
        raise kind(f"emulator hung up after {self.sent} of {len(self.body)} bytes (injected fault)")


class CountAnswers:
    """Pure ASGI middleware counting answers by route and status (cheap: no body handling)."""

    def __init__(self, app: ASGIApp, stats: Stats) -> None:
        self.app = app
        self.stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_name(scope["method"], scope["path"])
        status = "no answer"
        counted = False

        async def counting_send(message: Message) -> None:
            nonlocal status, counted
            if message["type"] == "http.response.start":
                status = str(message["status"])
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Counted before the last byte leaves: a client holding the answer finds it counted.
                counted = True
                self.stats.count(route, status)
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except InjectedDisconnect as exc:
            self.stats.count(
                route, "truncated" if isinstance(exc, TruncatedDownload) else "dropped"
            )
            raise
        except ClientDisconnect:  # the client gave up mid-request (its timeout): nobody to answer
            if not counted:
                self.stats.count(route, "client disconnected")
            return
        if not counted:
            self.stats.count(route, status)


def route_name(method: str, path: str) -> str:
    if path.startswith("/asset/"):
        return f"{method} /asset"
    if path in ("/api/assets", "/api/features") or path.startswith("/_emulator/"):
        return f"{method} {path}"
    return f"{method} (other)"
