"""How a call to 1min.ai can fail, sorted by what the run should do about it.

Every class is an ApiError, so the CLI maps them all to one exit code. The scheduler decides by
class: RetryableError (TransientError, RateLimited) -> back off and try again; FatalApiError
(AuthError, RateBanned, CreditsError, UnreachableError) -> stop scheduling for the whole run;
RejectedError -> fail this job with the API's own message; ApiProtocolError -> the answer made
no sense (fail the job).

Messages are one plain line and never contain the API key (the client redacts it).
"""

from __future__ import annotations

from runner.diagnostics import ApiError

# A Retry-After longer than this is treated as this: a run should not sit silent for hours.
MAX_RETRY_AFTER_S = 300.0


class RetryableError(ApiError):
    """Worth trying again after a pause: nothing was decided on the other side.

    `status`: the HTTP status, if an answer came; `retry_after`: the server's wish in seconds.
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.retry_after = cap_retry_after(retry_after)


class TransientError(RetryableError):
    """Connection error, timeout, dropped connection, 5xx, or a truncated or invalid download."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        status: int | None = None,
        connect_failure: str | None = None,
        maybe_processed: bool = True,
    ) -> None:
        super().__init__(message, hint, status=status)
        # Set when no connection could be made at all ("connection refused", "host name not
        # found", "timed out connecting"): the server was never reached.
        self.connect_failure = connect_failure
        # False when the request never went out whole (no connection, none free in the pool,
        # the sending broke): the API cannot have acted on it, nor charged it. A 5xx, a dropped
        # answer or a timeout waiting for one leave it unknown.
        self.maybe_processed = maybe_processed and connect_failure is None


class RateLimited(RetryableError):
    """HTTP 429. `retry_after`: the server's wish in seconds, capped at MAX_RETRY_AFTER_S."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(
            message, "lower --rpm or --concurrency", status=429, retry_after=retry_after
        )


def cap_retry_after(seconds: float | None) -> float | None:
    """The wait a Retry-After asks for, within 0..MAX_RETRY_AFTER_S."""
    return None if seconds is None else min(max(0.0, seconds), MAX_RETRY_AFTER_S)


class FatalApiError(ApiError):
    """Nothing more can succeed in this run: stop scheduling new jobs."""


class AuthError(FatalApiError):
    """HTTP 401/403 from the API: the key was refused."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, "check the key in the ONEMIN_API_KEY environment variable")
        self.status = status


class RateBanned(FatalApiError):
    """HTTP 403 saying "too many requests": the key is shut out for a while, not refused."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(
            message,
            "the key is blocked for sending too fast: wait (often an hour), then run again with"
            " a lower --rpm; finished work is kept",
        )
        self.status = status


class CreditsError(FatalApiError):
    """The account is out of credits."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, "add credits to the 1min.ai account, then run again to resume")
        self.status = status


class UnreachableError(FatalApiError):
    """No connection to the API could ever be made in this run (wrong URL, no network)."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(
            f"cannot reach the API at {base_url} ({reason})",
            "check --api-url and the ONEMIN_API_URL environment variable, and the network",
        )
        self.base_url = base_url
        self.reason = reason


class RejectedError(ApiError):
    """A 4xx the API explained (or a download refused): retrying the same request will not help."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.error_code = error_code


class UnknownAssetError(RejectedError):
    """A generation refused because its imageUrl names no (longer) known asset: an upload the API
    forgot (it expired). Nothing was charged; the run uploads the image again and retries once."""


class ApiProtocolError(ApiError):
    """The API answered something we cannot read (not JSON, or fields missing)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, "the API may have changed; run again later or report it")
        self.status = status
