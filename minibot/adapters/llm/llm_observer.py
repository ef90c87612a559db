"""What the LLM adapter reports about its requests (for metrics), and the label values."""

from __future__ import annotations

from typing import Protocol

from minibot.adapters.llm.retry_policy import Failure
from minibot.core.errors import LLMRejected, LLMUnavailable, StreamInterrupted


class LlmObserver(Protocol):
    """Told of each request's end (`outcome`: ok, rejected, unavailable, interrupted,
    error) and of each retry (`reason`: rate_limited, server_error, timeout,
    client_error, connection). Called on the event loop; must not block."""

    def request_finished(self, model: str, outcome: str) -> None: ...

    def retried(self, reason: str) -> None: ...


def retry_reason(failure: Failure) -> str:
    """A bounded label for why an attempt is retried."""
    status = failure.status
    if status == 429:
        return "rate_limited"
    if status is not None and status >= 500:
        return "server_error"
    if status == 408 or (status is None and "timed out" in failure.description):
        return "timeout"
    if status is not None:
        return "client_error"
    return "connection"


def outcome_of(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, StreamInterrupted):
        return "interrupted"
    if isinstance(error, LLMRejected):
        return "rejected"
    if isinstance(error, LLMUnavailable):
        return "unavailable"
    return "error"
