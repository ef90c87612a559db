"""When a job runs: one-shot, interval and cron schedules, and their occurrences in UTC."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

# Feb 29 on a given weekday can be 28 years away; beyond that a cron never fires.
_MAX_CRON_SEARCH_DAYS = 366 * 29


@functools.lru_cache(maxsize=512)
def zone(tz: str) -> ZoneInfo:
    """The ZoneInfo for `tz`, or ValueError naming it."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r} (try e.g. 'Europe/Madrid' or 'UTC')") from exc


def _require_utc(value: datetime, name: str) -> None:
    if value.tzinfo is UTC:
        return  # the common case, and cheap: replaying a store checks every job
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be an aware UTC datetime, got {value!r}")


@dataclass(frozen=True, slots=True)
class OneShot:
    """Runs once at `at` (UTC); `tz` is the zone it was expressed in, for display."""

    at: datetime
    tz: str = "UTC"

    def __post_init__(self) -> None:
        _require_utc(self.at, "at")
        zone(self.tz)


@dataclass(frozen=True, slots=True)
class Interval:
    """Runs at `start` and every `every_seconds` of elapsed time after (DST does not bend it)."""

    every_seconds: int
    start: datetime
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if self.every_seconds < 1:
            raise ValueError("an interval must be at least one second")
        _require_utc(self.start, "start")
        zone(self.tz)


@dataclass(frozen=True, slots=True)
class Cron:
    """A five-field cron expression evaluated on the wall clock of `tz`.

    A wall time skipped by a DST jump runs at the same offset after the jump (02:30 on
    the spring-forward day runs at 03:30); a wall time that happens twice runs once, at
    its first occurrence, unless the hour field is a wildcard (`*` or `*/n`), in which
    case both occurrences run, as in Vixie cron.
    """

    expr: str
    tz: str = "UTC"

    def __post_init__(self) -> None:
        _cron_fields(self.expr)
        zone(self.tz)


Schedule = OneShot | Interval | Cron


def is_recurring(schedule: Schedule) -> bool:
    return not isinstance(schedule, OneShot)


def first_occurrence(schedule: Schedule, now: datetime) -> datetime | None:
    """The first run of a new job created at `now`: the one-shot time, the interval start,
    or the next cron match after now."""
    if isinstance(schedule, OneShot):
        return schedule.at
    if isinstance(schedule, Interval):
        return schedule.start if schedule.start >= now else next_occurrence(schedule, now)
    return next_occurrence(schedule, now)


def next_occurrence(schedule: Schedule, after: datetime) -> datetime | None:
    """The first occurrence strictly after `after` (UTC), or None when there is none."""
    _require_utc(after, "after")
    if isinstance(schedule, OneShot):
        return schedule.at if schedule.at > after else None
    if isinstance(schedule, Interval):
        if after < schedule.start:
            return schedule.start
        step = timedelta(seconds=schedule.every_seconds)
        return schedule.start + ((after - schedule.start) // step + 1) * step
    return _cron_next(schedule, after)


def previous_occurrence(schedule: Schedule, at_or_before: datetime) -> datetime | None:
    """The latest occurrence at or before `at_or_before` (UTC), or None."""
    _require_utc(at_or_before, "at_or_before")
    if isinstance(schedule, OneShot):
        return schedule.at if schedule.at <= at_or_before else None
    if isinstance(schedule, Interval):
        if at_or_before < schedule.start:
            return None
        step = timedelta(seconds=schedule.every_seconds)
        return schedule.start + ((at_or_before - schedule.start) // step) * step
    return _cron_search(schedule, at_or_before, forward=False)


def occurrences(
    schedule: Schedule, after: datetime, until: datetime, limit: int = 1000
) -> list[datetime]:
    """Occurrences in (after, until], oldest first, at most `limit` of them."""
    found: list[datetime] = []
    current = after
    while len(found) < limit:
        nxt = next_occurrence(schedule, current)
        if nxt is None or nxt > until:
            break
        found.append(nxt)
        current = nxt
    return found


@dataclass(frozen=True, slots=True)
class _CronFields:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int] | None  # None: any day of the month
    months: frozenset[int] | None
    weekdays: frozenset[int] | None  # 0 = Sunday, as in cron
    hour_is_wildcard: bool


@functools.lru_cache(maxsize=1024)
def _cron_fields(expr: str) -> _CronFields:
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(f"a cron expression has 5 fields, got {expr!r} (try '0 9 * * 1-5')")
    try:
        expanded, _ = croniter.expand(expr)
    except Exception as exc:  # croniter raises several unrelated types
        raise ValueError(f"not a valid cron expression {expr!r}: {exc}") from exc

    def ints(field: list[int | str], name: str) -> tuple[int, ...] | None:
        if field == ["*"]:
            return None
        if not all(isinstance(v, int) for v in field):
            raise ValueError(f"unsupported {name} in cron expression {expr!r}")
        return tuple(sorted({int(v) % 7 if name == "weekday" else int(v) for v in field}))

    minutes = ints(expanded[0], "minute") or tuple(range(60))
    hours = ints(expanded[1], "hour") or tuple(range(24))
    days, months, weekdays = (
        ints(expanded[i], n) for i, n in ((2, "day"), (3, "month"), (4, "weekday"))
    )
    return _CronFields(
        minutes=minutes,
        hours=hours,
        days=frozenset(days) if days is not None else None,
        months=frozenset(months) if months is not None else None,
        weekdays=frozenset(weekdays) if weekdays is not None else None,
        hour_is_wildcard=parts[1].startswith("*"),
    )


def _day_matches(fields: _CronFields, day: date) -> bool:
    if fields.months is not None and day.month not in fields.months:
        return False
    dom_ok = fields.days is None or day.day in fields.days
    dow_ok = fields.weekdays is None or (day.isoweekday() % 7) in fields.weekdays
    # cron's rule: when both day fields are restricted, either one matching is enough.
    if fields.days is not None and fields.weekdays is not None:
        return dom_ok or dow_ok
    return dom_ok and dow_ok


def _cron_next(schedule: Cron, after: datetime) -> datetime | None:
    return _cron_search(schedule, after, forward=True)


def _cron_search(schedule: Cron, pivot: datetime, *, forward: bool) -> datetime | None:
    """Forward: the first instant > pivot. Backward: the last instant <= pivot."""
    fields = _cron_fields(schedule.expr)
    tz = zone(schedule.tz)
    local_pivot = pivot.astimezone(tz)
    first_day = local_pivot.date()
    direction = 1 if forward else -1
    for offset in range(_MAX_CRON_SEARCH_DAYS):
        day = first_day + timedelta(days=offset * direction)
        if not _day_matches(fields, day):
            continue
        hours = fields.hours if offset else _hours_near(fields.hours, local_pivot, forward=forward)
        best = _closest_on_day(fields, day, tz, pivot, hours=hours, forward=forward)
        if best is not None:
            return best
    return None


def _hours_near(hours: tuple[int, ...], local_pivot: datetime, *, forward: bool) -> tuple[int, ...]:
    # DST moves a wall time by at most a few hours, so hours far on the wrong side of the
    # pivot on its own day cannot match.
    if forward:
        return tuple(hour for hour in hours if hour >= local_pivot.hour - 3)
    return tuple(hour for hour in hours if hour <= local_pivot.hour + 3)


def _closest_on_day(
    fields: _CronFields,
    day: date,
    tz: ZoneInfo,
    pivot: datetime,
    *,
    hours: tuple[int, ...],
    forward: bool,
) -> datetime | None:
    """The day's instant at one of `hours` nearest the pivot on the searched side, or None."""
    best: datetime | None = None
    for hour in hours:
        for minute in fields.minutes:
            wall = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
            for instant in _instants(wall, both_folds=fields.hour_is_wildcard):
                on_side = instant > pivot if forward else instant <= pivot
                if on_side and (best is None or (instant < best if forward else instant > best)):
                    best = instant
    return best


def _instants(wall: datetime, *, both_folds: bool) -> tuple[datetime, ...]:
    """The UTC instants of a wall time: fold 0 maps a skipped time past the jump; the
    second occurrence of a repeated time is included only when asked."""
    first = wall.astimezone(UTC)
    if both_folds:
        second = wall.replace(fold=1)
        offset0, offset1 = wall.utcoffset(), second.utcoffset()
        # Repeated (not skipped) wall times have a smaller offset on their second pass.
        if offset0 is not None and offset1 is not None and offset1 < offset0:
            return first, second.astimezone(UTC)
    return (first,)
