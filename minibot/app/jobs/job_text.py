"""How jobs and their times read to a person: their zone, UTC, and the job id."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from minibot.core.jobs import Job
from minibot.core.schedule import Cron, Interval, OneShot, Schedule, zone

_PREVIEW_CHARS = 60
_DAY_NAMES = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_SIMPLE_CRON = re.compile(r"(\d{1,2}) (\d{1,2}) \* \* (\*|[\d,\-]+)")


def when_text(at: datetime, tz: str, now: datetime) -> str:
    """ "Tue 09:00 Europe/Madrid (07:00 UTC)"; the date is added when it is a week away or
    more, and the UTC day when it differs from the local one."""
    local = at.astimezone(zone(tz))
    utc = at.astimezone(UTC)
    days_ahead = (local.date() - now.astimezone(zone(tz)).date()).days
    day = f"{local:%a}" if 0 <= days_ahead < 7 else f"{local:%a %d %b %Y}"
    if tz == "UTC":
        return f"{day} {local:%H:%M} UTC"
    utc_time = f"{utc:%H:%M}" if utc.date() == local.date() else f"{utc:%a %H:%M}"
    return f"{day} {local:%H:%M} {tz} ({utc_time} UTC)"


def confirmation(job: Job, tz: str, now: datetime) -> str:
    """ "Tue 09:00 Europe/Madrid (07:00 UTC), job 12" (and how it repeats)."""
    if job.next_run_at is None:
        head = "not scheduled to run again"
    else:
        head = when_text(job.next_run_at, tz, now)
    repeats = "" if isinstance(job.schedule, OneShot) else f", {schedule_text(job.schedule, tz)}"
    return f"{head}, job {job.id}{repeats}"


def schedule_text(schedule: Schedule, user_tz: str) -> str:
    """How a schedule repeats, in words where that is easy, else its cron line."""
    if isinstance(schedule, OneShot):
        return "once"
    if isinstance(schedule, Interval):
        return f"every {duration_text(schedule.every_seconds)}"
    text = _cron_words(schedule)
    return text if schedule.tz == user_tz else f"{text} ({schedule.tz})"


def duration_text(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds:g} seconds"


def _cron_words(schedule: Cron) -> str:
    match = _SIMPLE_CRON.fullmatch(schedule.expr)
    if match is None:
        return f'cron "{schedule.expr}"'
    minute, hour, days = int(match[1]), int(match[2]), match[3]
    at = f"{hour:02d}:{minute:02d}"
    if days == "*":
        return f"every day at {at}"
    if days == "1-5":
        return f"every weekday at {at}"
    if days == "0,6":
        return f"every weekend day at {at}"
    if re.fullmatch(r"[0-6](,[0-6])*", days):
        names = ", ".join(_DAY_NAMES[int(d)] for d in days.split(","))
        return f"every {names} at {at}"
    return f'cron "{schedule.expr}"'


def what_text(job: Job) -> str:
    """'reminder "water the plants"' or 'prompt "summarize the news"'."""
    text = " ".join(job.action.text.split())
    if len(text) > _PREVIEW_CHARS:
        text = text[: _PREVIEW_CHARS - 1] + "…"
    kind = str(job.action.kind)
    return f'{kind} "{text}"'


def job_line(job: Job, tz: str, now: datetime) -> str:
    """One line of /tasks: id, what, next run."""
    if job.next_run_at is None:
        nxt = "waiting for your answer (Run now / Skip)"
    else:
        nxt = "next " + when_text(job.next_run_at, tz, now)
    repeats = "" if isinstance(job.schedule, OneShot) else f", {schedule_text(job.schedule, tz)}"
    state = " (running now)" if job.state.value == "running" else ""
    return f"job {job.id}: {what_text(job)}, {nxt}{repeats}{state}"
