"""Scheduled jobs: what runs, when, for whom, and the state machine each run moves through."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from minibot.core.conversation import ConversationKey
from minibot.core.errors import IllegalTransition
from minibot.core.schedule import (
    Schedule,
    first_occurrence,
    is_recurring,
    next_occurrence,
    occurrences,
    previous_occurrence,
)

_MICROSECOND = timedelta(microseconds=1)


# Where jobs that wait for nothing sort in "soonest first".
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


class JobState(enum.StrEnum):
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})

# Every move a job can make; anything else raises IllegalTransition.
_ALLOWED: dict[JobState, frozenset[JobState]] = {
    JobState.SCHEDULED: frozenset(
        {JobState.SCHEDULED, JobState.RUNNING, JobState.COMPLETED, JobState.CANCELLED}
    ),
    JobState.RUNNING: frozenset(
        {JobState.SCHEDULED, JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
}


class ActionKind(enum.StrEnum):
    REMINDER = "reminder"  # the text is sent verbatim, no LLM involved
    PROMPT = "prompt"  # the text is run through the LLM and the answer sent
    WORKFLOW = "workflow"  # the text names a workflow, run step by step


class OnMissed(enum.StrEnum):
    """What to do with a run missed while the daemon was down."""

    RUN_ONCE = "run_once"  # run once if within the grace window
    SKIP = "skip"  # record the miss and move on
    ASK = "ask"  # record the miss and ask the user "Run now / Skip"


class Notify(enum.StrEnum):
    ALWAYS = "always"
    NEVER = "never"  # a prompt's result is recorded but not sent


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    text: str
    # A prompt's model alias (`[llm.models.<alias>]`); None: the conversation's model.
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """One scheduled job. Immutable: every transition returns a new Job.

    `next_run_at` is when the scheduler fires it next (UTC; None when it waits for nothing
    or for a user's answer); `occurrence` is the nominal schedule time that run accounts
    for. They differ only while a failed run waits for its retry, so the retry keeps the
    occurrence, and with it the idempotency key of its effect. `origin` keys what created
    it (a command's turn, or one tool call of a turn): handling that again creates nothing
    new (see `JobService.create`).
    """

    id: str
    owner_id: str
    target: ConversationKey
    action: Action
    schedule: Schedule
    created_at: datetime
    updated_at: datetime
    next_run_at: datetime | None
    occurrence: datetime | None
    state: JobState = JobState.SCHEDULED
    on_missed: OnMissed = OnMissed.RUN_ONCE
    notify: Notify = Notify.ALWAYS
    attempts: int = 0
    last_error: str | None = None
    origin: str | None = None

    @classmethod
    def new(
        cls,
        *,
        id: str,
        owner_id: str,
        target: ConversationKey,
        action: Action,
        schedule: Schedule,
        now: datetime,
        on_missed: OnMissed = OnMissed.RUN_ONCE,
        notify: Notify = Notify.ALWAYS,
        origin: str | None = None,
    ) -> Job:
        first = first_occurrence(schedule, now)
        return cls(
            id=id,
            owner_id=owner_id,
            target=target,
            action=action,
            schedule=schedule,
            created_at=now,
            updated_at=now,
            next_run_at=first,
            occurrence=first,
            on_missed=on_missed,
            notify=notify,
            state=JobState.SCHEDULED if first is not None else JobState.COMPLETED,
            origin=origin,
        )

    @property
    def recurring(self) -> bool:
        return is_recurring(self.schedule)

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    def is_due(self, until: datetime) -> bool:
        """Whether the scheduler owes this job a run by `until`: a scheduled job whose next
        run has come, or a running one (a run interrupted by a crash is still owed)."""
        if self.state is JobState.RUNNING:
            return True
        return (
            self.state is JobState.SCHEDULED
            and self.next_run_at is not None
            and self.next_run_at <= until
        )

    def soonest_first(self) -> tuple[bool, datetime, int]:
        """The sort key of "soonest first": by next run (jobs waiting for nothing last),
        then by id, numerically where ids are numbers."""
        when = self.next_run_at or _FAR_FUTURE
        return self.next_run_at is None, when, int(self.id) if self.id.isdigit() else 0

    def _move(self, target: JobState, now: datetime, **changes: object) -> Job:
        if target not in _ALLOWED[self.state]:
            raise IllegalTransition(self.id, self.state.value, target.value)
        return replace(self, state=target, updated_at=now, **changes)  # type: ignore[arg-type]

    def _next(self, now: datetime, upcoming: datetime | None, **changes: object) -> Job:
        if upcoming is None:
            return self._move(JobState.COMPLETED, now, next_run_at=None, **changes)
        return self._move(
            JobState.SCHEDULED, now, next_run_at=upcoming, occurrence=upcoming, **changes
        )

    def start(self, now: datetime) -> Job:
        """The run of `occurrence` begins (record it before acting)."""
        if self.state is JobState.SCHEDULED and (
            self.occurrence is None or self.next_run_at is None
        ):
            raise IllegalTransition(self.id, "scheduled (no run pending)", "running")
        return self._move(JobState.RUNNING, now, attempts=self.attempts + 1)

    def succeed(self, now: datetime, upcoming: datetime | None) -> Job:
        """The run succeeded; `upcoming` is the next occurrence (None ends the job)."""
        self._expect(JobState.RUNNING, "succeeded")
        return self._next(now, upcoming, attempts=0, last_error=None)

    def retry(self, now: datetime, reason: str, at: datetime) -> Job:
        """The run failed and will be tried again at `at`, for the same occurrence."""
        self._expect(JobState.RUNNING, "retry")
        return self._move(JobState.SCHEDULED, now, next_run_at=at, last_error=reason)

    def fail(self, now: datetime, reason: str, upcoming: datetime | None) -> Job:
        """The run failed for good; a recurring job moves on to `upcoming`."""
        self._expect(JobState.RUNNING, "failed")
        if upcoming is None:
            return self._move(JobState.FAILED, now, next_run_at=None, last_error=reason)
        return self._next(now, upcoming, attempts=0, last_error=reason)

    def skip_to(self, now: datetime, upcoming: datetime | None) -> Job:
        """Pass over the pending occurrence without running it (missed or declined)."""
        self._expect(JobState.SCHEDULED, "skipped")
        return self._next(now, upcoming, attempts=0)

    def hold(self, now: datetime) -> Job:
        """Keep the pending occurrence but fire nothing until `run_now` (an open question)."""
        self._expect(JobState.SCHEDULED, "held")
        return self._move(JobState.SCHEDULED, now, next_run_at=None)

    def run_now(self, now: datetime) -> Job:
        """Fire as soon as possible, as a new occurrence at `now`."""
        self._expect(JobState.SCHEDULED, "run now")
        return self._move(JobState.SCHEDULED, now, next_run_at=now, occurrence=now, attempts=0)

    def interrupted(self, now: datetime) -> Job:
        """A run cut short by a crash goes back to the queue for the same occurrence."""
        self._expect(JobState.RUNNING, "requeued")
        return self._move(JobState.SCHEDULED, now, next_run_at=now)

    def reschedule(self, now: datetime, schedule: Schedule) -> Job:
        """Change when the job runs; it restarts from the new schedule's first occurrence."""
        first = first_occurrence(schedule, now)
        return self._next(now, first, schedule=schedule, attempts=0, last_error=None)

    def edit(self, now: datetime, **changes: object) -> Job:
        """Change what the job does or how (action, target, on_missed, notify)."""
        allowed = {"action", "target", "on_missed", "notify"}
        if unknown := set(changes) - allowed:
            raise ValueError(f"cannot edit {sorted(unknown)}")
        if self.finished:
            raise IllegalTransition(self.id, self.state.value, "edited")
        return replace(self, updated_at=now, **changes)  # type: ignore[arg-type]

    def catch_up(self, now: datetime, occurrence: datetime) -> Job:
        """Fire `occurrence` now: a run missed while down, or one a crash interrupted."""
        attempts = self.attempts if occurrence == self.occurrence else 0
        return self._move(
            JobState.SCHEDULED, now, next_run_at=now, occurrence=occurrence, attempts=attempts
        )

    def cancel(self, now: datetime) -> Job:
        return self._move(JobState.CANCELLED, now, next_run_at=None)

    def _expect(self, state: JobState, target: str) -> None:
        if self.state is not state:
            raise IllegalTransition(self.id, self.state.value, target)


def idempotency_key(job_id: str, occurrence: datetime) -> str:
    """The key an effect of one occurrence carries, so a re-run after a crash is sent once."""
    return f"job:{job_id}:{occurrence.isoformat()}"


class RunOutcome(enum.StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    MISSED = "missed"


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The run ledger's entry for one occurrence of one job: open while running, then
    exactly one outcome. A record with `through` set accounts for every occurrence from
    `occurrence` through `through` at once (a long outage folded into one line)."""

    job_id: str
    occurrence: datetime
    outcome: RunOutcome | None = None
    reason: str | None = None
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    through: datetime | None = None

    @classmethod
    def started(cls, job: Job, now: datetime) -> RunRecord:
        """The ledger entry to save together with `job.start(now)` (pass the started job)."""
        if job.occurrence is None:
            raise IllegalTransition(job.id, job.state.value, "run started")
        return cls(job.id, job.occurrence, attempts=job.attempts, started_at=now)

    @classmethod
    def missed(cls, job_id: str, occurrence: datetime, now: datetime, reason: str) -> RunRecord:
        return cls(job_id, occurrence, RunOutcome.MISSED, reason, finished_at=now)

    @property
    def key(self) -> tuple[str, datetime]:
        return self.job_id, self.occurrence

    def finish(self, outcome: RunOutcome, now: datetime, reason: str | None = None) -> RunRecord:
        if self.outcome is not None:
            raise IllegalTransition(self.job_id, self.outcome.value, outcome.value)
        return replace(self, outcome=outcome, reason=reason, finished_at=now)

    def merge(self, newer: RunRecord) -> RunRecord:
        """Fold a later record of the same occurrence into this one; an outcome, once
        recorded, never changes (IllegalTransition)."""
        if self.outcome is not None and newer.outcome != self.outcome:
            raise IllegalTransition(self.job_id, self.outcome.value, newer.outcome or "running")
        return newer if self.outcome is None else self


@dataclass(frozen=True, slots=True)
class Recovery:
    """What start-up does about one job whose runs were missed or interrupted: save `job`
    with `runs` (one outcome per missed occurrence), then tell the user. `fire` is the
    occurrence the job now fires at once (a catch-up or the re-run of an interrupted run,
    which reuses its idempotency key); `ask` is an occurrence to offer "Run now / Skip"."""

    job: Job
    runs: tuple[RunRecord, ...]
    fire: datetime | None = None
    ask: datetime | None = None

    @property
    def missed(self) -> tuple[RunRecord, ...]:
        return tuple(r for r in self.runs if r.outcome is RunOutcome.MISSED)


def plan_recovery(
    job: Job, now: datetime, grace_window_seconds: float, max_missed_records: int = 100
) -> Recovery | None:
    """Decide, without I/O, what happens to `job` at start-up; None when nothing does.

    A job is affected when it was running (a crash interrupted it) or its pending
    occurrence is due. Every occurrence from the pending one up to `now` gets exactly one
    outcome; a recurring job then moves to its next occurrence after `now`, so an outage
    never causes a burst of catch-up runs. Within the grace window an interrupted run is
    re-run whatever the policy; otherwise `on_missed` decides: run_once fires the latest
    missed occurrence if it is within the window, skip records the miss, ask records it
    and asks. More than `max_missed_records` misses are folded into one record.
    """
    interrupted = job.state is JobState.RUNNING
    pending = job.occurrence
    if pending is None or job.finished:
        return None
    if not interrupted and (job.next_run_at is None or job.next_run_at > now):
        return None
    listed, latest = _missed_occurrences(job.schedule, pending, now, max_missed_records)

    def within_grace(occurrence: datetime) -> bool:
        return (now - occurrence).total_seconds() <= grace_window_seconds

    if interrupted and within_grace(pending):
        fire: datetime | None = pending
    elif job.on_missed is OnMissed.RUN_ONCE and within_grace(latest):
        fire = latest
    else:
        fire = None
    ask = latest if job.on_missed is OnMissed.ASK and fire != latest else None
    runs = [
        RunRecord.missed(
            job.id,
            occurrence,
            now,
            _miss_reason(job.on_missed, interrupted and occurrence == pending, fire),
        )
        for occurrence in listed
        if occurrence != fire
    ]
    if len(listed) > max_missed_records:
        runs = _fold_long_outage(job.schedule, runs, listed)
    moved = _recovered(job, now, fire, ask, interrupted)
    return Recovery(job=moved, runs=tuple(runs), fire=fire, ask=ask)


def _missed_occurrences(
    schedule: Schedule, pending: datetime, now: datetime, max_missed_records: int
) -> tuple[list[datetime], datetime]:
    """The occurrences from the pending one up to `now` (at most `max_missed_records`,
    always ending with the latest), and the latest."""
    listed = [pending, *occurrences(schedule, pending, now, limit=max_missed_records - 1)]
    latest = max(previous_occurrence(schedule, now) or pending, pending)
    if latest > listed[-1]:
        listed.append(latest)
    return listed, latest


def _miss_reason(on_missed: OnMissed, interrupted: bool, fire: datetime | None) -> str:
    if interrupted:
        return "interrupted by a restart"
    if fire is not None:
        return "missed while offline; coalesced into one catch-up run"
    if on_missed is OnMissed.RUN_ONCE:
        return "missed while offline, beyond the grace window"
    if on_missed is OnMissed.ASK:
        return "missed while offline; the user was asked"
    return "missed while offline; skipped by policy"


def _fold_long_outage(
    schedule: Schedule, runs: list[RunRecord], listed: list[datetime]
) -> list[RunRecord]:
    # The occurrences between the last one listed before the latest and the latest (a
    # long outage) share that one's record instead of one line each.
    last_skipped = previous_occurrence(schedule, listed[-1] - _MICROSECOND)
    if last_skipped is None:
        return runs
    return [
        replace(run, through=last_skipped)
        if run.occurrence == listed[-2] and last_skipped > run.occurrence
        else run
        for run in runs
    ]


def _recovered(
    job: Job, now: datetime, fire: datetime | None, ask: datetime | None, interrupted: bool
) -> Job:
    """The job after recovery: firing `fire` now, or moved past `now`."""
    if fire is not None:
        return job.catch_up(now, fire)
    upcoming = next_occurrence(job.schedule, now)
    base = job.interrupted(now) if interrupted else job
    if ask is not None and upcoming is None:
        return base.hold(now)
    return base.skip_to(now, upcoming)
