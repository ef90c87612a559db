"""The one back-off policy: growth, cap, jitter, and long-running loops."""

from __future__ import annotations

import pytest

from minibot.core.backoff import Backoff


def test_waits_double_from_the_initial_wait_up_to_the_cap() -> None:
    backoff = Backoff(initial_seconds=0.5, max_seconds=10.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_the_multiplier_sets_the_growth() -> None:
    backoff = Backoff(initial_seconds=1.0, max_seconds=100.0, multiplier=3.0)
    assert [backoff.delay(n) for n in range(1, 5)] == [1.0, 3.0, 9.0, 27.0]


def test_an_attempt_before_the_first_waits_the_initial_wait() -> None:
    assert Backoff(initial_seconds=2.0, max_seconds=60.0).delay(0) == 2.0


def test_a_loop_failing_for_days_stays_at_the_cap_without_overflowing() -> None:
    backoff = Backoff(initial_seconds=1.0, max_seconds=60.0)
    assert backoff.delay(10**6) == 60.0


@pytest.mark.parametrize(
    ("jitter", "fraction", "expected"),
    [
        (0.0, 0.3, 8.0),  # no jitter: the random source is not even asked
        (1.0, 0.0, 0.0),  # full jitter: anywhere from nothing...
        (1.0, 0.25, 2.0),  # ...to the whole wait
        (0.5, 0.0, 4.0),  # half jitter: at least half the wait
        (0.5, 0.5, 6.0),
    ],
)
def test_jitter_leaves_its_fraction_of_the_wait_to_chance(
    jitter: float, fraction: float, expected: float
) -> None:
    def random_fraction() -> float:
        if not jitter:
            raise AssertionError("asked for chance with no jitter")
        return fraction

    backoff = Backoff(1.0, 60.0, jitter=jitter, random_fraction=random_fraction)
    assert backoff.delay(4) == pytest.approx(expected)


@pytest.mark.parametrize(
    "arguments",
    [
        {"initial_seconds": -1.0, "max_seconds": 1.0},
        {"initial_seconds": 1.0, "max_seconds": 1.0, "multiplier": 0.5},
        {"initial_seconds": 1.0, "max_seconds": 1.0, "jitter": 1.5},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**arguments)  # type: ignore[arg-type]
