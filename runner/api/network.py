"""What the network and HTTP headers say, in plain words: Retry-After, waits, URLs fit to show,
and why a connection could not be made."""

from __future__ import annotations

import email.utils
import errno
import socket
import time
from urllib.parse import urlsplit

import httpx

from runner.api.errors import MAX_RETRY_AFTER_S


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date; None if absent."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN -> None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def format_wait(seconds: float) -> str:
    """A wait for people: "7 s", "0.5 s", "300 s (the longest backdrop waits)"."""
    text = f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f}".removesuffix(".0") + " s"
    return f"{text} (the longest backdrop waits)" if seconds >= MAX_RETRY_AFTER_S else text


def display_url(url: str) -> str:
    """`url` fit to show: scheme, host, port and path only (never user:password@, or a query)."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return url.split("?", 1)[0].rpartition("@")[2]
    return f"{parts.scheme}://{host_of(url)}{parts.path}".rstrip("/")


def host_of(url: str) -> str:
    """host[:port] of `url`, without any user:password@."""
    return urlsplit(url).netloc.rpartition("@")[2]


def connect_failure(exc: httpx.HTTPError) -> str | None:
    """Why no connection could be made ("connection refused"), or None if one was made.

    Only connect errors and connect timeouts count: a read timeout or a dropped connection
    means the server was reached.
    """
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if not isinstance(exc, httpx.ConnectError):
        return None
    cause: BaseException | None = exc
    while cause is not None:  # httpx -> httpcore -> anyio -> the socket's own error
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, TimeoutError):
            return "timed out connecting"
        if isinstance(cause, OSError) and cause.errno in _UNREACHABLE:
            return _UNREACHABLE[cause.errno]
        cause = cause.__cause__ or cause.__context__
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "nodename" in text or "name resolution" in text:
        return "host name not found"
    return "could not connect"


_UNREACHABLE = {
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ECONNREFUSED: "connection refused",
}
