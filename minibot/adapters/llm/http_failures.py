"""HTTP errors with their status and headers kept, and the mapping of failures to retry kinds."""

from __future__ import annotations

import asyncio

from aiosonic import HttpResponse  # type: ignore[import-untyped]
from aiosonic.exceptions import (  # type: ignore[import-untyped]
    BaseTimeout,
    ConnectionDisconnected,
    HttpParsingError,
)

from minibot.adapters.llm.retry_policy import (
    Failure,
    FailureKind,
    classify_status,
    parse_retry_after,
)
from minibot.core.errors import LLMAttemptFailed

MAX_ERROR_BODY_CHARS = 300


class HttpStatusError(LLMAttemptFailed):
    """A 4xx/5xx answer. Raised by a response hook, so llm-async never flattens it to text."""

    def __init__(self, status: int, retry_after: str | None, body: str) -> None:
        super().__init__(f"status {status}: {body[:MAX_ERROR_BODY_CHARS]}")
        self.status = status
        self.retry_after = retry_after
        self.body = body


class StreamBroken(LLMAttemptFailed):
    """The connection failed while an answer was being streamed."""


async def raise_for_http_error(response: HttpResponse) -> None:
    """aiosonic response hook: runs before llm-async sees the response, headers still at hand."""
    if response.status_code < 400:
        return
    body = await response.text()
    raise HttpStatusError(response.status_code, response.headers.get("retry-after"), body)


def classify_exception(exc: BaseException) -> Failure | None:
    """The retry kind of a failed attempt; None for errors that are not about transport."""
    if isinstance(exc, HttpStatusError):
        return classify_status(exc.status, parse_retry_after(exc.retry_after))
    if isinstance(exc, TimeoutError | BaseTimeout):
        return Failure(FailureKind.TRANSIENT, "request timed out")
    if isinstance(
        exc,
        StreamBroken
        | ConnectionDisconnected
        | HttpParsingError
        | asyncio.IncompleteReadError
        | OSError,  # refused, reset, unreachable, DNS failure
    ):
        return Failure(FailureKind.TRANSIENT, f"connection dropped ({type(exc).__name__})")
    return None
