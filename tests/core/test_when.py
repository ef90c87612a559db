"""Phrases people type after /remind, understood in their own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from minibot.core.schedule import Cron, Interval, OneShot, Schedule, next_occurrence
from minibot.core.when import UnclearWhen, parse_when, split_when

MADRID = "Europe/Madrid"
# Saturday 28 March 2026, 11:00 in Madrid; the clocks go forward tonight.
NOW = datetime(2026, 3, 28, 10, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("in 10 minutes", OneShot(NOW + timedelta(minutes=10), MADRID)),
        ("in 2 hours", OneShot(NOW + timedelta(hours=2), MADRID)),
        ("in an hour", OneShot(NOW + timedelta(hours=1), MADRID)),
        ("in 90s", OneShot(NOW + timedelta(seconds=90), MADRID)),
        ("tomorrow 9:00", OneShot(utc(2026, 3, 29, 7), MADRID)),  # CEST from tomorrow
        ("Tomorrow at 9am", OneShot(utc(2026, 3, 29, 7), MADRID)),
        ("at 18:30", OneShot(utc(2026, 3, 28, 17, 30), MADRID)),  # still today, CET
        ("at 9:00", OneShot(utc(2026, 3, 29, 7), MADRID)),  # passed today: tomorrow
        ("6pm", OneShot(utc(2026, 3, 28, 17), MADRID)),
        ("2026-12-01 10:00", OneShot(utc(2026, 12, 1, 9), MADRID)),
        ("2026-12-01 at 10:00", OneShot(utc(2026, 12, 1, 9), MADRID)),
        ("monday 9:00", OneShot(utc(2026, 3, 30, 7), MADRID)),
        ("next saturday 9:00", OneShot(utc(2026, 4, 4, 7), MADRID)),
        ("sunday 2:30", OneShot(utc(2026, 3, 29, 1, 30), MADRID)),  # skipped hour: 03:30
        ("tomorrow", OneShot(utc(2026, 3, 29, 7), MADRID)),  # 09:00 by default
        ("every day at 8:00", Cron("0 8 * * *", MADRID)),
        ("daily at 8", Cron("0 8 * * *", MADRID)),
        ("every monday 18:30", Cron("30 18 * * 1", MADRID)),
        ("every monday and friday at 9", Cron("0 9 * * 1,5", MADRID)),
        ("every weekday at 7:15", Cron("15 7 * * 1-5", MADRID)),
        ("every weekend at 10am", Cron("0 10 * * 0,6", MADRID)),
        ("every 2 hours", Interval(7200, NOW + timedelta(hours=2), MADRID)),
        ("every hour", Interval(3600, NOW + timedelta(hours=1), MADRID)),
        ("every 30 minutes", Interval(1800, NOW + timedelta(minutes=30), MADRID)),
        ("0 9 * * 1-5", Cron("0 9 * * 1-5", MADRID)),
        ("cron */15 * * * *", Cron("*/15 * * * *", MADRID)),
    ],
)
def test_phrases_become_schedules(phrase: str, expected: Schedule) -> None:
    assert parse_when(phrase, MADRID, NOW) == expected


def test_every_day_at_eight_follows_the_wall_clock_across_dst() -> None:
    schedule = parse_when("every day at 8:00", MADRID, NOW)
    first = next_occurrence(schedule, NOW)
    second = next_occurrence(schedule, first)  # type: ignore[arg-type]
    assert (first, second) == (utc(2026, 3, 29, 6), utc(2026, 3, 30, 6))  # 08:00 CEST


def test_the_text_after_the_phrase_is_what_to_do() -> None:
    assert split_when("in 10 minutes call mom", MADRID, NOW) == (
        OneShot(NOW + timedelta(minutes=10), MADRID),
        "call mom",
    )
    assert split_when("every monday 18:30 gym bag", MADRID, NOW) == (
        Cron("30 18 * * 1", MADRID),
        "gym bag",
    )
    assert split_when("0 9 * * 1-5 standup", MADRID, NOW)[1] == "standup"


@pytest.mark.parametrize(
    ("phrase", "problem"),
    [
        ("whenever you like", "could not understand"),
        ("at 25:00", "out of range"),
        ("13pm", "out of range"),
        ("2020-01-01 10:00", "in the past"),
        ("2026-02-30 10:00", "no date"),
        ("today 9:00", "already passed"),
        ("in 0 minutes", "must be positive"),
        ("61 9 * * *", "not a valid cron"),
    ],
)
def test_an_unclear_phrase_gets_an_example_that_works(phrase: str, problem: str) -> None:
    with pytest.raises(UnclearWhen) as caught:
        parse_when(phrase, MADRID, NOW)
    message = str(caught.value)
    assert problem in message
    assert '"in 10 minutes"' in message and '"every monday 18:30"' in message
    assert isinstance(caught.value, ValueError)


def test_split_without_any_time_phrase_raises() -> None:
    with pytest.raises(UnclearWhen, match="Try"):
        split_when("buy milk", MADRID, NOW)


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_when("in 5 minutes", "Nowhere/Town", NOW)
