"""Next-run computation for one-shot, interval and cron schedules, across DST changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from minibot.core.schedule import (
    Cron,
    Interval,
    OneShot,
    first_occurrence,
    next_occurrence,
    occurrences,
    previous_occurrence,
)

MADRID = ZoneInfo("Europe/Madrid")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_times(instants: list[datetime], tz: ZoneInfo = MADRID) -> list[str]:
    return [i.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") for i in instants]


def test_a_one_shot_runs_once_at_its_time() -> None:
    at = utc(2026, 5, 1, 10)
    schedule = OneShot(at, "Europe/Madrid")
    assert first_occurrence(schedule, utc(2026, 4, 1)) == at
    assert next_occurrence(schedule, at - timedelta(seconds=1)) == at
    assert next_occurrence(schedule, at) is None
    assert previous_occurrence(schedule, at) == at


def test_an_interval_counts_elapsed_time_from_its_start() -> None:
    start = utc(2026, 3, 28, 22)
    schedule = Interval(2 * 3600, start, "Europe/Madrid")
    assert next_occurrence(schedule, start - timedelta(hours=5)) == start
    assert next_occurrence(schedule, start) == start + timedelta(hours=2)
    assert next_occurrence(schedule, start + timedelta(hours=3)) == start + timedelta(hours=4)
    assert previous_occurrence(schedule, start + timedelta(hours=3)) == start + timedelta(hours=2)
    # Across the spring-forward night the gaps stay exactly two hours of real time.
    runs = occurrences(schedule, start, start + timedelta(hours=8))
    assert [b - a for a, b in itertools.pairwise(runs)] == [timedelta(hours=2)] * 3


def test_cron_weekdays_at_nine_in_the_users_zone() -> None:
    schedule = Cron("0 9 * * 1-5", "Europe/Madrid")
    # Friday 2026-01-09 10:00 local -> next is Monday 2026-01-12 09:00 local (08:00 UTC).
    assert next_occurrence(schedule, utc(2026, 1, 9, 9)) == utc(2026, 1, 12, 8)
    assert previous_occurrence(schedule, utc(2026, 1, 11, 12)) == utc(2026, 1, 9, 8)


def test_cron_day_fields_combine_with_or_when_both_are_restricted() -> None:
    schedule = Cron("0 12 13 * 5", "UTC")  # the 13th, or any Friday
    runs = occurrences(schedule, utc(2026, 2, 1), utc(2026, 2, 28))
    assert [r.day for r in runs] == [6, 13, 20, 27]  # 13 Feb 2026 is a Friday too


def test_a_daily_0230_job_on_the_spring_forward_day_fires_once_after_the_jump() -> None:
    # Madrid skips 02:00-03:00 on Sunday 29 March 2026.
    schedule = Cron("30 2 * * *", "Europe/Madrid")
    runs = occurrences(schedule, utc(2026, 3, 27), utc(2026, 3, 31))
    assert local_times(runs) == [
        "2026-03-27 02:30 CET",
        "2026-03-28 02:30 CET",
        "2026-03-29 03:30 CEST",
        "2026-03-30 02:30 CEST",
    ]


@pytest.mark.parametrize("wall", ["01:30", "02:30"])
def test_a_daily_job_on_the_fall_back_day_fires_once(wall: str) -> None:
    # Madrid repeats 02:00-03:00 on Sunday 25 October 2026.
    hour, minute = wall.split(":")
    schedule = Cron(f"{int(minute)} {int(hour)} * * *", "Europe/Madrid")
    runs = occurrences(schedule, utc(2026, 10, 24), utc(2026, 10, 27))
    on_the_day = [r for r in runs if r.astimezone(MADRID).day == 25]
    assert len(on_the_day) == 1
    assert on_the_day[0].astimezone(MADRID).strftime("%H:%M") == wall


def test_an_hourly_cron_follows_the_real_hours_of_a_dst_day() -> None:
    hourly = Cron("0 * * * *", "Europe/Madrid")
    spring = occurrences(hourly, utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    autumn = occurrences(hourly, utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert len(spring) == 23  # one wall hour does not exist
    assert len(autumn) == 25  # one wall hour happens twice
    assert len(set(spring)) == 23 and len(set(autumn)) == 25


def test_stepped_hours_do_not_invent_runs_in_the_skipped_hour() -> None:
    schedule = Cron("20 */2 * * *", "Europe/Madrid")
    runs = occurrences(schedule, utc(2026, 3, 28, 22), utc(2026, 3, 29, 4, 30))
    assert local_times(runs) == [
        "2026-03-29 00:20 CET",
        "2026-03-29 03:20 CEST",  # 02:20 does not exist; it runs after the jump
        "2026-03-29 04:20 CEST",
        "2026-03-29 06:20 CEST",
    ]


def test_previous_occurrence_of_cron_is_the_latest_at_or_before() -> None:
    schedule = Cron("*/15 * * * *", "UTC")
    assert previous_occurrence(schedule, utc(2026, 1, 1, 10, 14)) == utc(2026, 1, 1, 10)
    assert previous_occurrence(schedule, utc(2026, 1, 1, 10, 15)) == utc(2026, 1, 1, 10, 15)


def test_a_cron_that_cannot_fire_returns_none() -> None:
    assert next_occurrence(Cron("0 0 31 2 *", "UTC"), utc(2026, 1, 1)) is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Cron("0 9 * *", "UTC"), "5 fields"),
        (lambda: Cron("61 9 * * *", "UTC"), "not a valid cron"),
        (lambda: Cron("0 9 * * *", "Mars/Base"), "unknown time zone"),
        (lambda: OneShot(datetime(2026, 1, 1, 9), "UTC"), "aware UTC"),
        (lambda: Interval(0, utc(2026, 1, 1), "UTC"), "at least one second"),
    ],
)
def test_invalid_schedules_are_refused(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]
