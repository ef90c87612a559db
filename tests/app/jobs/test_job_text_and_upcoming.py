"""How times read (zone, UTC, job id) and the upcoming fire times across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

from minibot.app.jobs.job_text import confirmation, duration_text, schedule_text, when_text
from minibot.app.jobs.run_budget import current_run, inside_run
from minibot.app.jobs.upcoming import parse_until, render, upcoming
from minibot.core.conversation import ConversationKey
from minibot.core.jobs import Action, ActionKind, Job
from minibot.core.schedule import Cron, Interval, OneShot

NOW = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # a Tuesday


def test_times_read_in_the_users_zone_and_in_utc() -> None:
    at = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    assert when_text(at, "Europe/Madrid", NOW) == "Tue 09:00 Europe/Madrid (08:00 UTC)"
    assert when_text(at, "UTC", NOW) == "Tue 08:00 UTC"
    far = datetime(2026, 4, 20, 7, 0, tzinfo=UTC)
    assert when_text(far, "Europe/Madrid", NOW) == "Mon 20 Apr 2026 09:00 Europe/Madrid (07:00 UTC)"
    late = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)  # already Thursday in Tokyo
    assert when_text(late, "Asia/Tokyo", NOW) == "Thu 08:30 Asia/Tokyo (Wed 23:30 UTC)"


def test_schedules_read_in_words() -> None:
    assert schedule_text(Cron("0 8 * * *", "UTC"), "UTC") == "every day at 08:00"
    assert schedule_text(Cron("15 7 * * 1-5", "UTC"), "UTC") == "every weekday at 07:15"
    assert schedule_text(Cron("30 18 * * 1,3", "UTC"), "UTC") == "every Mon, Wed at 18:30"
    assert schedule_text(Cron("*/5 * * * *", "UTC"), "UTC") == 'cron "*/5 * * * *"'
    assert schedule_text(Cron("0 8 * * *", "Europe/Madrid"), "UTC").endswith("(Europe/Madrid)")
    assert schedule_text(Interval(5400, NOW), "UTC") == "every 90 minutes"
    assert duration_text(86400) == "day" and duration_text(7200) == "2 hours"


def _job(job_id: str, schedule: OneShot | Cron, owner: str = "a") -> Job:
    return Job.new(
        id=job_id,
        owner_id=owner,
        target=ConversationKey("test", "1"),
        action=Action(ActionKind.REMINDER, "gym"),
        schedule=schedule,
        now=NOW,
    )


def test_confirmation_names_the_job_and_how_it_repeats() -> None:
    job = _job("12", Cron("0 9 * * 2", "Europe/Madrid"))
    assert confirmation(job, "Europe/Madrid", NOW) == (
        "Tue 10 Mar 2026 09:00 Europe/Madrid (08:00 UTC), job 12, every Tue at 09:00"
    )


def test_upcoming_lists_fire_times_across_both_dst_changes() -> None:
    weekly = _job("1", Cron("0 9 * * 0", "Europe/Madrid"))
    other = _job("2", OneShot(datetime(2026, 3, 5, 12, 0, tzinfo=UTC)), owner="b")
    items = upcoming([weekly, other], NOW, parse_until("+300d", NOW))
    assert [i.job.id for i in items[:2]] == ["2", "1"], "soonest first"
    text = render(items, {"a": "Europe/Madrid"}, "UTC")
    assert "Sun 2026-03-22 09:00 Europe/Madrid (2026-03-22 08:00 UTC)" in text
    assert "Sun 2026-03-29 09:00 Europe/Madrid (2026-03-29 07:00 UTC)" in text
    assert "Sun 2026-10-25 09:00 Europe/Madrid (2026-10-25 08:00 UTC)" in text
    assert "Thu 2026-03-05 12:00 UTC (2026-03-05 12:00 UTC)  job 2  b" in text
    assert upcoming([weekly], NOW, parse_until("+2d", NOW)) == []


def test_until_accepts_relative_and_iso_forms() -> None:
    assert parse_until("+12h", NOW) == datetime(2026, 3, 3, 20, 0, tzinfo=UTC)
    assert parse_until("2026-04-01", NOW) == datetime(2026, 4, 1, tzinfo=UTC)


def test_the_run_budget_is_visible_only_inside_the_run() -> None:
    assert current_run() is None
    with inside_run("7", 1) as budget:
        assert current_run() is budget and not budget.exhausted
    assert current_run() is None
