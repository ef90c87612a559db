"""Understanding "when" phrases ("in 10 minutes", "every monday 18:30") as schedules."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from minibot.core.schedule import Cron, Interval, OneShot, Schedule, zone

EXAMPLES = (
    '"in 10 minutes", "tomorrow 9:00", "at 18:30", "2026-12-01 10:00", '
    '"every day at 8:00", "every monday 18:30", "every 2 hours", "every weekday at 7:15" '
    'or a cron line like "0 9 * * 1-5"'
)
DEFAULT_TIME = time(9, 0)  # "tomorrow" or "every monday" with no time given
_MAX_PHRASE_WORDS = 8


class UnclearWhen(ValueError):
    """A phrase that is not a time; the message says what would have worked."""

    def __init__(self, phrase: str, problem: str | None = None) -> None:
        reason = problem or f'I could not understand "{phrase}" as a time'
        super().__init__(f"{reason}. Try {EXAMPLES}.")
        self.phrase = phrase


_UNIT_SECONDS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}  # fmt: skip
_WEEKDAYS = {
    name: index
    for index, names in enumerate(
        [
            ("sunday", "sun"),
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
        ]
    )
    for name in names
}
_DAY_GROUPS = {"day": "*", "daily": "*", "weekday": "1-5", "weekdays": "1-5", "weekend": "0,6"}

_TIME = r"(?:at\s+)?(?P<time>noon|midnight|\d{1,2}(?::\d{2})?\s*(?:am|pm)?)"
_IN = re.compile(r"in\s+(?P<n>an?|\d+(?:\.\d+)?)\s*(?P<unit>[a-z]+)")
_EVERY_INTERVAL = re.compile(r"every\s+(?:(?P<n>\d+)\s*)?(?P<unit>[a-z]+)")
_EVERY_DAYS = re.compile(rf"(?:every\s+)?(?P<days>[a-z][a-z ,]*?)(?:\s+{_TIME})?")
_ON_DAY = re.compile(rf"(?:(?P<day>today|tomorrow|(?:next\s+)?[a-z]+)\s+)?{_TIME}")
_DAY_ONLY = re.compile(r"(?P<day>today|tomorrow|(?:next\s+)?[a-z]+)")
_ISO = re.compile(rf"(?P<date>\d{{4}}-\d{{2}}-\d{{2}})(?:[t ]\s*{_TIME})?")
_CRON_FIELD = re.compile(r"[\d*/,\-]+|[a-z]{3}(?:[-,][a-z]{3})*")


def parse_when(phrase: str, tz: str, now: datetime) -> Schedule:
    """The schedule `phrase` means for a user in `tz` at `now` (UTC); raises UnclearWhen."""
    text = " ".join(phrase.lower().strip().rstrip(".!").split())
    zone(tz)
    for parse in (_cron, _relative, _iso_date, _interval, _weekly, _one_day):
        schedule = parse(text, tz, now)
        if schedule is not None:
            return schedule
    raise UnclearWhen(phrase)


def split_when(text: str, tz: str, now: datetime) -> tuple[Schedule, str]:
    """Split "<when> <what>" at the longest leading phrase that is a time."""
    words = text.split()
    for count in range(min(len(words), _MAX_PHRASE_WORDS), 0, -1):
        try:
            schedule = parse_when(" ".join(words[:count]), tz, now)
        except UnclearWhen:
            continue
        return schedule, " ".join(words[count:])
    raise UnclearWhen(text)


def _time_of(text: str | None, phrase: str) -> time:
    if text is None:
        return DEFAULT_TIME
    if text in ("noon", "midnight"):
        return time(12) if text == "noon" else time(0)
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", text)
    assert match is not None
    hour, minute, half = int(match[1]), int(match[2] or 0), match[3]
    if half is not None:
        if not 1 <= hour <= 12:
            raise UnclearWhen(phrase, f'the hour in "{phrase}" is out of range')
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise UnclearWhen(phrase, f'the time in "{phrase}" is out of range')
    return time(hour, minute)


def _at_local(day: date, at: time, tz: str) -> datetime:
    # fold=0: a wall time skipped by DST lands just after the jump.
    return datetime.combine(day, at, tzinfo=zone(tz)).astimezone(UTC)


def _cron(text: str, tz: str, now: datetime) -> Schedule | None:
    fields = text.removeprefix("cron ").split()
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        return None
    if not any(c.isdigit() or c == "*" for c in "".join(fields)):
        return None
    try:
        return Cron(" ".join(fields), tz)
    except ValueError as exc:
        raise UnclearWhen(text, str(exc)) from exc


def _relative(text: str, tz: str, now: datetime) -> Schedule | None:
    match = _IN.fullmatch(text)
    if match is None or match["unit"] not in _UNIT_SECONDS:
        return None
    amount = 1.0 if match["n"] in ("a", "an") else float(match["n"])
    seconds = amount * _UNIT_SECONDS[match["unit"]]
    if seconds <= 0:
        raise UnclearWhen(text, f'the delay in "{text}" must be positive')
    return OneShot(now + timedelta(seconds=seconds), tz)


def _interval(text: str, tz: str, now: datetime) -> Schedule | None:
    match = _EVERY_INTERVAL.fullmatch(text)
    if match is None or match["unit"] not in _UNIT_SECONDS:
        return None
    if match["n"] is None and match["unit"] in ("d", "day", "days"):
        return None  # "every day" means a time of day: see _weekly
    seconds = int(match["n"] or 1) * _UNIT_SECONDS[match["unit"]]
    if seconds < 1:
        raise UnclearWhen(text, f'the interval in "{text}" must be positive')
    return Interval(seconds, now + timedelta(seconds=seconds), tz)


def _weekly(text: str, tz: str, now: datetime) -> Schedule | None:
    if not (text.startswith("every ") or text.startswith("daily") or text.startswith("weekday")):
        return None
    match = _EVERY_DAYS.fullmatch(text)
    if match is None:
        return None
    names = [n for n in re.split(r"[ ,]+|\band\b", match["days"]) if n and n != "and"]
    if len(names) == 1 and names[0] in _DAY_GROUPS:
        days = _DAY_GROUPS[names[0]]
    elif names and all(n.rstrip("s") in _WEEKDAYS or n in _WEEKDAYS for n in names):
        indexes = {_WEEKDAYS.get(n, _WEEKDAYS.get(n.rstrip("s"), 0)) for n in names}
        days = ",".join(str(i) for i in sorted(indexes))
    else:
        return None
    at = _time_of(match["time"], text)
    return Cron(f"{at.minute} {at.hour} * * {days}", tz)


def _one_day(text: str, tz: str, now: datetime) -> Schedule | None:
    match = _ON_DAY.fullmatch(text) or _DAY_ONLY.fullmatch(text)
    if match is None:
        return None
    groups = match.groupdict()
    day_word, time_text = groups.get("day"), groups.get("time")
    if day_word == "at":
        day_word = None
    today = now.astimezone(zone(tz)).date()
    at = _time_of(time_text, text)
    if day_word in (None, "today"):
        when = _at_local(today, at, tz)
        if when <= now:
            if day_word == "today":
                raise UnclearWhen(text, f'"{text}" has already passed')
            when = _at_local(today + timedelta(days=1), at, tz)
        return OneShot(when, tz)
    if day_word == "tomorrow":
        return OneShot(_at_local(today + timedelta(days=1), at, tz), tz)
    weekday = _WEEKDAYS.get(day_word.removeprefix("next "))
    if weekday is None:
        return None
    ahead = (weekday - today.isoweekday() % 7) % 7
    when = _at_local(today + timedelta(days=ahead), at, tz)
    if when <= now or (day_word.startswith("next ") and ahead == 0):
        when = _at_local(today + timedelta(days=ahead or 7), at, tz)
    return OneShot(when, tz)


def _iso_date(text: str, tz: str, now: datetime) -> Schedule | None:
    match = _ISO.fullmatch(text)
    if match is None:
        return None
    try:
        day = date.fromisoformat(match["date"])
    except ValueError as exc:
        raise UnclearWhen(text, f"there is no date {match['date']}") from exc
    when = _at_local(day, _time_of(match["time"], text), tz)
    if when <= now:
        raise UnclearWhen(text, f'"{text}" is in the past')
    return OneShot(when, tz)
