"""The file store's record format: one compact JSON array per line behind a CRC-32.

A line is `CRC32HEX SP JSON-ARRAY LF`; the array's first element is its kind. Times are
integer microseconds since the Unix epoch (UTC), enums small integers, and a value that
repeats another is written `true` ("same as"). A save puts what start-up needs first:

    [0, id, owner, state, next_run_us|null, occurrence, channel, chat, action kind,
     text, schedule, on_missed, notify, attempts, created_us, updated_us, error, runs?]

occurrence is `true` when it equals next_run_at; updated_us `true` when it equals
created_us; a schedule is [0, tz, at_us|true (= occurrence)], [1, tz, start_us,
every_seconds] or [2, tz, cron expr]; chat is the chat id, or [chat id, thread] for a
job whose target is a thread (a Slack thread, a Telegram topic); a run is [occurrence_us,
attempts, outcome, reason, started_us, finished_us, through_us] without its trailing
nulls. A job made by a
command or tool call adds its origin key after the runs (runs then `[]` if none), which
readers that predate it ignore. Other kinds:
[1, id, at_us] (start a run), [2, owner, tz] and the snapshot header [3, gen, last_id].
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from minibot.core.conversation import ConversationKey
from minibot.core.jobs import (
    Action,
    ActionKind,
    Job,
    JobState,
    Notify,
    OnMissed,
    RunOutcome,
    RunRecord,
)
from minibot.core.schedule import Cron, Interval, OneShot, Schedule

Record = list[Any]

SAVE, START, TIMEZONE, HEADER = 0, 1, 2, 3
# Field positions in a save record that start-up reads without building the Job.
ID, OWNER, STATE, NEXT = 1, 2, 3, 4
_RUNS = 17
_ORIGIN = 18
_MODEL = 19

# Listed explicitly: the numbers are the on-disk format, whatever order core lists them.
_STATE_LIST = (
    JobState.SCHEDULED,
    JobState.RUNNING,
    JobState.COMPLETED,
    JobState.FAILED,
    JobState.CANCELLED,
)
_KIND_LIST = (ActionKind.REMINDER, ActionKind.PROMPT, ActionKind.WORKFLOW)
_MISSED_LIST = (OnMissed.RUN_ONCE, OnMissed.SKIP, OnMissed.ASK)
_NOTIFY_LIST = (Notify.ALWAYS, Notify.NEVER)
_OUTCOME_LIST = (RunOutcome.DELIVERED, RunOutcome.FAILED, RunOutcome.MISSED)
STATE_CODES = {s: i for i, s in enumerate(_STATE_LIST)}
SCHEDULED_CODE = STATE_CODES[JobState.SCHEDULED]
RUNNING_CODE = STATE_CODES[JobState.RUNNING]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class CorruptLine(ValueError):
    """A line whose framing, checksum or JSON is wrong (a torn write or damage)."""


def to_us(value: datetime) -> int:
    return (value - EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(0, 0, value)  # positional: measurably faster


def _us(value: datetime | None) -> int | None:
    return None if value is None else to_us(value)


def _dt(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def encode_line(record: Record) -> bytes:
    payload = orjson.dumps(record)
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def decode_line(line: bytes) -> Record:
    """`line` with or without its newline; raises CorruptLine."""
    end = len(line) - 1 if line[-1:] == b"\n" else len(line)
    if end < 10 or line[8] != 32:  # 32: the space after the checksum
        raise CorruptLine("bad framing")
    payload = memoryview(line)[9:end]
    try:
        expected = int(line[:8], 16)
    except ValueError as exc:
        raise CorruptLine("bad checksum field") from exc
    if zlib.crc32(payload) != expected:
        raise CorruptLine("checksum mismatch")
    try:
        # orjson rejects trailing bytes and bad UTF-8 (JSONDecodeError is a ValueError).
        record = orjson.loads(payload)
    except ValueError as exc:
        raise CorruptLine("bad JSON") from exc
    if type(record) is not list or not record or type(record[0]) is not int:
        raise CorruptLine("not a record")
    return record


def is_lazy_save(record: Record) -> bool:
    """A well-formed save whose header start-up can index without building the Job."""
    return (
        len(record) >= _RUNS
        and type(record[ID]) is str
        and type(record[OWNER]) is str
        and type(record[STATE]) is int
        and (record[NEXT] is None or type(record[NEXT]) is int)
    )


def _schedule_array(schedule: Schedule, occurrence: datetime | None) -> list[Any]:
    tz = schedule.tz
    if isinstance(schedule, OneShot):
        return [0, tz, True if schedule.at == occurrence else to_us(schedule.at)]
    if isinstance(schedule, Interval):
        return [1, tz, to_us(schedule.start), schedule.every_seconds]
    return [2, tz, schedule.expr]


def run_array(run: RunRecord) -> list[Any]:
    data = [
        to_us(run.occurrence),
        run.attempts,
        None if run.outcome is None else _OUTCOME_LIST.index(run.outcome),
        run.reason,
        _us(run.started_at),
        _us(run.finished_at),
        _us(run.through),
    ]
    while data[-1] is None:
        data.pop()
    return data


def save_record(job: Job, runs: Sequence[RunRecord] = ()) -> Record:
    next_run, occurrence = job.next_run_at, job.occurrence
    record: Record = [
        SAVE,
        job.id,
        job.owner_id,
        STATE_CODES[job.state],
        _us(next_run),
        True if occurrence is not None and occurrence == next_run else _us(occurrence),
        job.target.channel,
        [job.target.chat_id, job.target.thread] if job.target.thread else job.target.chat_id,
        _KIND_LIST.index(job.action.kind),
        job.action.text,
        _schedule_array(job.schedule, occurrence),
        _MISSED_LIST.index(job.on_missed),
        _NOTIFY_LIST.index(job.notify),
        job.attempts,
        to_us(job.created_at),
        True if job.updated_at == job.created_at else to_us(job.updated_at),
        job.last_error,
    ]
    model = job.action.model
    if runs or job.origin is not None or model is not None:
        record.append([run_array(r) for r in runs])
    if job.origin is not None or model is not None:
        record.append(job.origin)
    if model is not None:
        record.append(model)
    return record


def origin_of(record: Record) -> str | None:
    """The origin key of a save record (None for a job not made by a turn or command)."""
    return record[_ORIGIN] if len(record) > _ORIGIN else None


def run_from_array(job_id: str, data: list[Any]) -> RunRecord:
    occurrence, attempts, *rest = data
    outcome, reason, started, finished, through = (*rest, None, None, None, None, None)[:5]
    return RunRecord(
        job_id,
        from_us(occurrence),
        None if outcome is None else _OUTCOME_LIST[outcome],
        reason,
        attempts,
        _dt(started),
        _dt(finished),
        _dt(through),
    )


class JobDecoder:
    """Builds Jobs from save records, sharing repeated strings, targets and instants."""

    def __init__(self) -> None:
        self._targets: dict[tuple[str, str, str], ConversationKey] = {}
        # Jobs created together (a batch, an import) share their creation instant.
        self._instants: dict[int, datetime] = {}

    def job(self, data: Record) -> Job:
        chat = data[7]
        key = (data[6], chat, "") if type(chat) is str else (data[6], chat[0], chat[1])
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = ConversationKey(
                sys.intern(key[0]), sys.intern(key[1]), key[2]
            )
        created_us = data[14]
        created = self._instants.get(created_us)
        if created is None:
            if len(self._instants) >= 1024:
                self._instants.clear()  # bounded: distinct instants are not worth keeping
            created = self._instants[created_us] = from_us(created_us)
        updated = created if data[15] is True else from_us(data[15])
        next_run_at = _dt(data[NEXT])
        occurrence = next_run_at if data[5] is True else _dt(data[5])
        sched = data[10]
        tz = sys.intern(sched[1])
        schedule: Schedule
        if sched[0] == 0:
            schedule = OneShot(occurrence if sched[2] is True else from_us(sched[2]), tz)  # type: ignore[arg-type]
        elif sched[0] == 1:
            schedule = Interval(sched[3], from_us(sched[2]), tz)
        else:
            schedule = Cron(sched[2], tz)
        # Positional: a frozen dataclass binds keyword arguments noticeably slower.
        return Job(
            data[ID],
            sys.intern(data[OWNER]),
            target,
            Action(_KIND_LIST[data[8]], data[9], data[_MODEL] if len(data) > _MODEL else None),
            schedule,
            created,
            updated,
            next_run_at,
            occurrence,
            _STATE_LIST[data[STATE]],
            _MISSED_LIST[data[11]],
            _NOTIFY_LIST[data[12]],
            data[13],
            data[16],
            origin_of(data),
        )

    def runs(self, data: Record) -> list[RunRecord]:
        saved = data[_RUNS] if len(data) > _RUNS else ()
        return [run_from_array(data[ID], r) for r in saved]


def timezone_record(owner_id: str, tz: str) -> Record:
    return [TIMEZONE, owner_id, tz]


def start_record(job_id: str, at: datetime) -> Record:
    return [START, job_id, to_us(at)]


def header_record(generation: int, last_id: int) -> Record:
    return [HEADER, generation, last_id]
