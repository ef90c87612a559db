"""The pure retry decision: which failures are retried, and after how long."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from minibot.adapters.llm.retry_policy import (
    Failure,
    FailureKind,
    RetryPolicy,
    classify_status,
    parse_retry_after,
    provider_pause_seconds,
)


def policy(**overrides: float) -> RetryPolicy:
    values = {
        "max_attempts": 4,
        "initial_delay_seconds": 1.0,
        "max_delay_seconds": 5.0,
        "total_deadline_seconds": 100.0,
    }
    values.update(overrides)
    return RetryPolicy(**values, random_fraction=lambda: 1.0)  # type: ignore[arg-type]


TRANSIENT = Failure(FailureKind.TRANSIENT, "boom")


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_rate_limits_and_server_errors_are_transient(status: int) -> None:
    assert classify_status(status).kind is FailureKind.TRANSIENT


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_client_errors_are_rejections(status: int) -> None:
    assert classify_status(status).kind is FailureKind.REJECTED


def test_a_rejection_is_never_retried() -> None:
    decision = policy().decide(classify_status(401), attempt=1, elapsed_seconds=0)
    assert not decision.retry


def test_backoff_doubles_up_to_the_ceiling() -> None:
    delays = [
        policy().decide(TRANSIENT, attempt=n, elapsed_seconds=0).delay_seconds for n in (1, 2, 3)
    ]
    assert delays == [1.0, 2.0, 4.0]
    capped = policy(max_attempts=10).decide(TRANSIENT, attempt=6, elapsed_seconds=0)
    assert capped.delay_seconds == 5.0


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    jittered = RetryPolicy(4, 2.0, 10.0, 100.0, random_fraction=lambda: 0.25)
    assert jittered.decide(TRANSIENT, attempt=2, elapsed_seconds=0).delay_seconds == 1.0


def test_retry_after_overrides_backoff() -> None:
    failure = classify_status(429, retry_after_seconds=7.0)
    assert policy().decide(failure, attempt=1, elapsed_seconds=0).delay_seconds == 7.0


def test_attempts_are_bounded() -> None:
    assert policy().decide(TRANSIENT, attempt=3, elapsed_seconds=0).retry
    assert not policy().decide(TRANSIENT, attempt=4, elapsed_seconds=0).retry


def test_no_retry_that_would_end_past_the_deadline() -> None:
    bounded = policy(total_deadline_seconds=10.0)
    assert bounded.decide(TRANSIENT, attempt=1, elapsed_seconds=8.0).retry
    assert not bounded.decide(TRANSIENT, attempt=1, elapsed_seconds=9.5).retry


def test_retry_after_in_seconds_and_as_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "retry_after", "pause"),
    [(429, 5.0, 5.0), (503, 2.5, 2.5), (429, None, None), (429, 0.0, None), (500, 5.0, None)],
)
def test_only_a_rate_limit_or_overload_with_retry_after_pauses_the_provider(
    status: int, retry_after: float | None, pause: float | None
) -> None:
    assert provider_pause_seconds(classify_status(status, retry_after)) == pause


def test_a_wait_must_end_before_the_deadline() -> None:
    assert policy(total_deadline_seconds=10.0).may_wait(4.0, elapsed_seconds=5.0)
    assert not policy(total_deadline_seconds=10.0).may_wait(5.0, elapsed_seconds=5.0)
