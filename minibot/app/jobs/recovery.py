"""Start-up recovery: missed and interrupted runs settled, and each affected person told."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from minibot.app.jobs.job_text import what_text, when_text
from minibot.core.events import Event, JobMissed
from minibot.core.jobs import Job, JobState, Recovery, plan_recovery
from minibot.core.messages import Button, OutgoingMessage
from minibot.core.ports.job_store import JobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What start-up recovery did: the events to publish and one notice per person."""

    plans: tuple[Recovery, ...] = ()
    events: tuple[Event, ...] = ()
    notices: tuple[OutgoingMessage, ...] = field(default=())


async def recover(store: JobStore, now: datetime, grace_window_seconds: float) -> RecoveryReport:
    """Settle every job whose run was due or cut short while minibot was down: save the
    plan (the job's new state with one outcome per missed occurrence), so the scheduler
    then fires only what the policies allow, at most once per job."""
    plans: list[Recovery] = []
    lines: dict[str, list[str]] = defaultdict(list)
    buttons: dict[str, list[Button]] = defaultdict(list)
    targets: dict[str, Job] = {}
    events: list[Event] = []
    for job in await store.due_jobs(now):
        plan = plan_recovery(job, now, grace_window_seconds)
        if plan is None:
            continue
        await store.save(plan.job, plan.runs)
        plans.append(plan)
        events += [JobMissed(r.job_id, r.occurrence, r.reason or "missed") for r in plan.missed]
        tz = await store.get_timezone(job.owner_id)
        line = _line(job, plan, tz, now)
        if line is None:
            continue
        owner = job.owner_id
        targets.setdefault(owner, job)
        lines[owner].append(line)
        if plan.ask is not None:
            buttons[owner] += [
                Button(f"Run now (job {job.id})", f"job:run:{job.id}"),
                Button(f"Skip (job {job.id})", f"job:skip:{job.id}"),
            ]
    notices = tuple(
        OutgoingMessage(
            targets[owner].target,
            "While I was offline:\n" + "\n".join(f"- {line}" for line in owner_lines),
            f"recovery:{owner}:{now.isoformat()}",
            buttons=tuple(buttons[owner]),
        )
        for owner, owner_lines in lines.items()
    )
    if plans:
        log.info("recovered jobs", extra={"jobs": len(plans), "people": len(notices)})
    return RecoveryReport(tuple(plans), tuple(events), notices)


def _line(job: Job, plan: Recovery, tz: str, now: datetime) -> str | None:
    missed = plan.missed
    if plan.fire is not None and not missed and job.state is JobState.RUNNING:
        # A run cut short by the restart is re-run with the same idempotency key: the
        # person sees its message once, so there is nothing to tell them.
        return None
    head = f"job {job.id}, {what_text(job)}"
    runs = "1 run" if len(missed) == 1 else f"{len(missed)} runs"
    earlier = f"more than {runs}" if any(r.through is not None for r in missed) else runs
    first = missed[0].occurrence if missed else plan.fire
    assert first is not None
    due = when_text(first, tz, now)
    if plan.fire is not None:
        extra = f" ({earlier} missed in all, caught up once)" if missed else ""
        return f"{head}: was due {due}; running it now{extra}"
    if plan.ask is not None:
        return f"{head}: {earlier} missed since {due}. Run it now, or skip it?"
    nxt = (
        f"; next {when_text(plan.job.next_run_at, tz, now)}"
        if plan.job.next_run_at is not None
        else ""
    )
    reason = missed[-1].reason if missed else "skipped"
    return f"{head}: {earlier} missed since {due} ({reason}){nxt}"
