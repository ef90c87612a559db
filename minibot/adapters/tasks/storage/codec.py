"""The file store's record format: one JSON object per line behind a CRC-32 checksum."""

from __future__ import annotations

import sys
import zlib
from datetime import datetime
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

Record = dict[str, Any]

# Enum lookup by value through a dict is several times faster than calling the Enum.
_KINDS = {k.value: k for k in ActionKind}
_STATES = {s.value: s for s in JobState}
_ON_MISSED = {m.value: m for m in OnMissed}
_NOTIFY = {n.value: n for n in Notify}
_OUTCOMES = {o.value: o for o in RunOutcome}


class CorruptLine(ValueError):
    """A line whose framing, checksum or JSON is wrong (a torn write or damage)."""


def encode_line(record: Record) -> bytes:
    payload = orjson.dumps(record)
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def decode_line(line: bytes) -> Record:
    """`line` without its newline; raises CorruptLine."""
    if len(line) < 10 or line[8:9] != b" ":
        raise CorruptLine("bad framing")
    payload = line[9:]
    try:
        expected = int(line[:8], 16)
    except ValueError as exc:
        raise CorruptLine("bad checksum field") from exc
    if zlib.crc32(payload) != expected:
        raise CorruptLine("checksum mismatch")
    try:
        # orjson is several times faster than json here, and rejects trailing bytes and
        # bad UTF-8 alike (JSONDecodeError is a ValueError).
        record = orjson.loads(payload)
    except ValueError as exc:
        raise CorruptLine("bad JSON") from exc
    if not isinstance(record, dict) or "t" not in record:
        raise CorruptLine("not a record")
    return record


def _dt(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def schedule_to_dict(schedule: Schedule) -> Record:
    if isinstance(schedule, OneShot):
        return {"k": "at", "at": schedule.at.isoformat(), "tz": schedule.tz}
    if isinstance(schedule, Interval):
        return {
            "k": "every",
            "s": schedule.every_seconds,
            "start": schedule.start.isoformat(),
            "tz": schedule.tz,
        }
    return {"k": "cron", "expr": schedule.expr, "tz": schedule.tz}


def schedule_from_dict(data: Record) -> Schedule:
    tz = sys.intern(data["tz"])
    kind = data["k"]
    if kind == "at":
        return OneShot(datetime.fromisoformat(data["at"]), tz)
    if kind == "every":
        return Interval(data["s"], datetime.fromisoformat(data["start"]), tz)
    return Cron(data["expr"], tz)


def job_to_dict(job: Job) -> Record:
    data: Record = {
        "id": job.id,
        "owner": job.owner_id,
        "ch": job.target.channel,
        "chat": job.target.chat_id,
        "kind": job.action.kind.value,
        "text": job.action.text,
        "sched": schedule_to_dict(job.schedule),
        "state": job.state.value,
        "missed": job.on_missed.value,
        "notify": job.notify.value,
        "att": job.attempts,
        "cr": job.created_at.isoformat(),
        "up": job.updated_at.isoformat(),
    }
    # Absent keys mean None: most jobs have no error, and finished ones no next run.
    if job.last_error is not None:
        data["err"] = job.last_error
    if job.next_run_at is not None:
        data["next"] = job.next_run_at.isoformat()
    if job.occurrence is not None:
        data["occ"] = job.occurrence.isoformat()
    return data


class JobDecoder:
    """Builds Jobs from records, sharing repeated strings, targets and timestamps (a new
    one-shot's four timestamps are often one instant) to keep 100,000 jobs small."""

    def __init__(self) -> None:
        self._targets: dict[tuple[str, str], ConversationKey] = {}
        # Jobs created together (a batch, an import) share their creation instant.
        self._instants: dict[str, datetime] = {}

    def job(self, data: Record) -> Job:
        key = (data["ch"], data["chat"])
        target = self._targets.get(key)
        if target is None:
            target = self._targets[key] = ConversationKey(sys.intern(key[0]), sys.intern(key[1]))
        created_text, updated_text = data["cr"], data["up"]
        created = self._instants.get(created_text)
        if created is None:
            if len(self._instants) >= 1024:
                self._instants.clear()  # bounded: distinct instants are not worth keeping
            created = self._instants[created_text] = datetime.fromisoformat(created_text)
        updated = created if updated_text == created_text else datetime.fromisoformat(updated_text)
        sched = data["sched"]
        tz = sys.intern(sched["tz"])
        kind = sched["k"]
        first_text = sched.get("at") or sched.get("start")
        first = datetime.fromisoformat(first_text) if first_text else None
        next_text, occurrence_text = data.get("next"), data.get("occ")
        next_run_at = _same_or_parse(next_text, first_text, first)
        occurrence = (
            next_run_at
            if occurrence_text == next_text
            else _same_or_parse(occurrence_text, first_text, first)
        )
        schedule: Schedule
        if kind == "at":
            schedule = OneShot(first, tz)  # type: ignore[arg-type]
        elif kind == "every":
            schedule = Interval(sched["s"], first, tz)  # type: ignore[arg-type]
        else:
            schedule = Cron(sched["expr"], tz)
        # Positional: a frozen dataclass binds keyword arguments noticeably slower.
        return Job(
            data["id"],
            sys.intern(data["owner"]),
            target,
            Action(_KINDS[data["kind"]], data["text"]),
            schedule,
            created,
            updated,
            next_run_at,
            occurrence,
            _STATES[data["state"]],
            _ON_MISSED[data["missed"]],
            _NOTIFY[data["notify"]],
            data["att"],
            data.get("err"),
        )


def _same_or_parse(
    text: str | None, known_text: str | None, known: datetime | None
) -> datetime | None:
    if text is None:
        return None
    return known if text == known_text else datetime.fromisoformat(text)


def run_to_dict(run: RunRecord) -> Record:
    data: Record = {"occ": run.occurrence.isoformat(), "att": run.attempts}
    optional = {
        "out": run.outcome.value if run.outcome is not None else None,
        "reason": run.reason,
        "st": _dt(run.started_at),
        "fin": _dt(run.finished_at),
        "thr": _dt(run.through),
    }
    data.update((k, v) for k, v in optional.items() if v is not None)
    return data


def run_from_dict(job_id: str, data: Record) -> RunRecord:
    outcome = data.get("out")
    return RunRecord(
        job_id=job_id,
        occurrence=datetime.fromisoformat(data["occ"]),
        outcome=_OUTCOMES[outcome] if outcome is not None else None,
        reason=data.get("reason"),
        attempts=data["att"],
        started_at=_parse_dt(data.get("st")),
        finished_at=_parse_dt(data.get("fin")),
        through=_parse_dt(data.get("thr")),
    )


def save_record(job: Job, runs: tuple[RunRecord, ...] | list[RunRecord] = ()) -> Record:
    record: Record = {"t": "save", "job": job_to_dict(job)}
    if runs:
        record["runs"] = [run_to_dict(r) for r in runs]
    return record


def timezone_record(owner_id: str, tz: str) -> Record:
    return {"t": "tz", "owner": owner_id, "tz": tz}


def start_record(job_id: str, at: datetime) -> Record:
    return {"t": "start", "id": job_id, "at": at.isoformat()}
