"""The future fire times of jobs, for `minibot jobs upcoming`: computed, never run."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from minibot.app.jobs.job_text import what_text
from minibot.core.jobs import Job, JobState
from minibot.core.schedule import occurrences, zone

_RELATIVE = re.compile(r"\+(\d+)\s*([mhdw])")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True, slots=True)
class Upcoming:
    at: datetime
    job: Job


def parse_until(text: str, now: datetime) -> datetime:
    """ "+7d", "+12h", "+30m", "+2w", or an ISO date/time (UTC unless it says otherwise)."""
    match = _RELATIVE.fullmatch(text.strip())
    if match is not None:
        return now + timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(
            f"--until wants +7d, +12h, +30m, +2w or an ISO date, not {text!r}"
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=now.tzinfo)


def upcoming(
    jobs: Iterable[Job], now: datetime, until: datetime, *, per_job_limit: int = 500
) -> list[Upcoming]:
    """Every fire time in [now, until] of the scheduled jobs, soonest first. A job waiting
    for a retry lists the retry, then its schedule's later occurrences."""
    found: list[Upcoming] = []
    for job in jobs:
        if job.state is not JobState.SCHEDULED or job.next_run_at is None:
            continue
        if job.next_run_at > until:
            continue
        times = [job.next_run_at]
        after = max(job.next_run_at, job.occurrence or job.next_run_at)
        times += occurrences(job.schedule, after, until, limit=per_job_limit - 1)
        found += [Upcoming(at, job) for at in times]
    return sorted(found, key=lambda u: (u.at, int(u.job.id) if u.job.id.isdigit() else 0))


def render(items: Iterable[Upcoming], timezones: Mapping[str, str], default_tz: str) -> str:
    """One line per fire time: the owner's local time with its UTC offset, and the job."""
    lines = []
    for item in items:
        tz = timezones.get(item.job.owner_id, default_tz)
        local = item.at.astimezone(zone(tz))
        lines.append(
            f"{local:%a %Y-%m-%d %H:%M} {tz} ({item.at:%Y-%m-%d %H:%M} UTC)  "
            f"job {item.job.id}  {item.job.owner_id}  {what_text(item.job)}"
        )
    return "\n".join(lines)
