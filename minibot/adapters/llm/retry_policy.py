"""When to try an LLM request again, and after how long: pure, so it is tested without I/O."""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from minibot.core.backoff import Backoff

# 408 (timeout) and 409 (conflict) are 4xx but transient by definition; 429 is rate limiting.
RETRYABLE_CLIENT_STATUSES = frozenset({408, 409, 429})
# A rate limit or an overload is the provider's state, not one request's: its Retry-After
# holds for every conversation.
PAUSING_STATUSES = frozenset({429, 503})


class FailureKind(enum.Enum):
    TRANSIENT = "transient"  # 429, 5xx, timeout, dropped connection: worth another attempt
    REJECTED = "rejected"  # the provider refused the request itself: retrying cannot help


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt, reduced to what the retry decision needs."""

    kind: FailureKind
    description: str
    status: int | None = None
    retry_after_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay_seconds: float = 0.0


def classify_status(status: int, retry_after_seconds: float | None = None) -> Failure:
    transient = status >= 500 or status in RETRYABLE_CLIENT_STATUSES
    kind = FailureKind.TRANSIENT if transient else FailureKind.REJECTED
    return Failure(kind, f"HTTP {status}", status, retry_after_seconds)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def provider_pause_seconds(failure: Failure) -> float | None:
    """How long `failure` pauses every request to its provider; None if only its own turn."""
    if failure.status in PAUSING_STATUSES and failure.retry_after_seconds:
        return failure.retry_after_seconds
    return None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, honouring Retry-After, bounded in attempts and time."""

    max_attempts: int
    initial_delay_seconds: float
    max_delay_seconds: float
    total_deadline_seconds: float
    random_fraction: Callable[[], float] = random.random

    def decide(self, failure: Failure, *, attempt: int, elapsed_seconds: float) -> RetryDecision:
        """`attempt` counts from 1 for the attempt that just failed."""
        if failure.kind is not FailureKind.TRANSIENT or attempt >= self.max_attempts:
            return RetryDecision(False)
        if failure.retry_after_seconds is not None:
            # The server said when; waiting less only earns another 429.
            delay = failure.retry_after_seconds
        else:
            delay = self.backoff.delay(attempt)
        if not self.may_wait(delay, elapsed_seconds=elapsed_seconds):
            return RetryDecision(False)
        return RetryDecision(True, delay)

    @property
    def backoff(self) -> Backoff:
        # Full jitter: conversations failing together spread their retries over the wait.
        return Backoff(
            self.initial_delay_seconds,
            self.max_delay_seconds,
            jitter=1.0,
            random_fraction=self.random_fraction,
        )

    def may_wait(self, delay_seconds: float, *, elapsed_seconds: float) -> bool:
        """Whether a request may still go out after waiting `delay_seconds` more."""
        return elapsed_seconds + delay_seconds < self.total_deadline_seconds
