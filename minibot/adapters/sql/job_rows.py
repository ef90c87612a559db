"""Jobs and run records as rows of the SQL job tables, and back."""

from __future__ import annotations

from typing import Any

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

# Dict lookups: calling an Enum by value costs several times more, per job read.
_KINDS = {k.value: k for k in ActionKind}
_STATES = {s.value: s for s in JobState}
_MISSED = {m.value: m for m in OnMissed}
_NOTIFY = {n.value: n for n in Notify}

# A row's claim columns are the store's own business: never part of a saved Job.
CLAIM_COLUMNS = ("claimed_by", "lease_until")


def job_row(job: Job) -> dict[str, Any]:
    schedule = job.schedule
    row: dict[str, Any] = {
        "id": job.id,
        "owner_id": job.owner_id,
        "channel": job.target.channel,
        "chat_id": job.target.chat_id,
        "thread": job.target.thread,
        "action_kind": job.action.kind.value,
        "text": job.action.text,
        "model_alias": job.action.model,
        "schedule_tz": schedule.tz,
        "schedule_at": None,
        "schedule_every_seconds": None,
        "schedule_cron": None,
        "state": job.state.value,
        "next_run_at": job.next_run_at,
        "occurrence": job.occurrence,
        "on_missed": job.on_missed.value,
        "notify": job.notify.value,
        "attempts": job.attempts,
        "last_error": job.last_error,
        "origin": job.origin,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }
    if isinstance(schedule, OneShot):
        row.update(schedule_kind="once", schedule_at=schedule.at)
    elif isinstance(schedule, Interval):
        row.update(
            schedule_kind="interval",
            schedule_at=schedule.start,
            schedule_every_seconds=schedule.every_seconds,
        )
    else:
        row.update(schedule_kind="cron", schedule_cron=schedule.expr)
    return row


def job_from_row(row: Any) -> Job:
    kind = row.schedule_kind
    schedule: Schedule
    if kind == "once":
        schedule = OneShot(row.schedule_at, row.schedule_tz)
    elif kind == "interval":
        schedule = Interval(row.schedule_every_seconds, row.schedule_at, row.schedule_tz)
    else:
        schedule = Cron(row.schedule_cron, row.schedule_tz)
    # Positional: a frozen dataclass binds keyword arguments noticeably slower.
    return Job(
        row.id,
        row.owner_id,
        ConversationKey(row.channel, row.chat_id, row.thread),
        Action(_KINDS[row.action_kind], row.text, row.model_alias),
        schedule,
        row.created_at,
        row.updated_at,
        row.next_run_at,
        row.occurrence,
        _STATES[row.state],
        _MISSED[row.on_missed],
        _NOTIFY[row.notify],
        row.attempts,
        row.last_error,
        row.origin,
    )


def run_row(run: RunRecord) -> dict[str, Any]:
    return {
        "job_id": run.job_id,
        "occurrence": run.occurrence,
        "outcome": None if run.outcome is None else run.outcome.value,
        "reason": run.reason,
        "attempts": run.attempts,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "through": run.through,
    }


def run_from_row(row: Any) -> RunRecord:
    return RunRecord(
        job_id=row.job_id,
        occurrence=row.occurrence,
        outcome=None if row.outcome is None else RunOutcome(row.outcome),
        reason=row.reason,
        attempts=row.attempts,
        started_at=row.started_at,
        finished_at=row.finished_at,
        through=row.through,
    )
