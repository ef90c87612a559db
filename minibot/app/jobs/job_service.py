"""The job service: a person's jobs created, listed, changed and cancelled, and their zone."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from minibot.app.jobs.recovery import RecoveryReport, recover
from minibot.app.jobs.run_budget import current_run
from minibot.core.conversation import ConversationKey
from minibot.core.errors import JobRefused, NotFound
from minibot.core.events import JobCancelled, JobCreated, JobUpdated
from minibot.core.health import Health, HealthState
from minibot.core.jobs import Action, ActionKind, Job, JobState, Notify, OnMissed, RunRecord
from minibot.core.ports.bus import Publish
from minibot.core.ports.clock import Clock
from minibot.core.ports.job_store import JobStore
from minibot.core.ports.scheduler import Scheduler
from minibot.core.schedule import OneShot, Schedule, next_occurrence, zone

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snoozed:
    """The reminder a Snooze made, and whether an earlier press had already made it."""

    job: Job
    again: bool


@dataclass(frozen=True, slots=True)
class JobLimits:
    max_jobs_per_owner: int
    max_jobs_created_per_run: int
    grace_window_seconds: float


class JobService:
    """Jobs as one person sees them. Every method takes the owner id resolved server-side;
    another owner's job is reported exactly like a missing one, so ids reveal nothing.

    `start()` opens the store and recovers runs missed or interrupted while minibot was
    down (the scheduler starts later, see SchedulerService); `recovered` holds what the
    users are told about it.
    """

    name = "jobs"

    def __init__(
        self,
        store: JobStore,
        scheduler: Scheduler,
        publish: Publish,
        clock: Clock,
        limits: JobLimits,
    ) -> None:
        self._store = store
        self._scheduler = scheduler
        self._publish = publish
        self._clock = clock
        self._limits = limits
        self.recovered: RecoveryReport = RecoveryReport()

    def now(self) -> datetime:
        return self._clock.now()

    async def start(self) -> None:
        await self._store.start()
        self.recovered = await recover(
            self._store, self._clock.now(), self._limits.grace_window_seconds
        )
        for event in self.recovered.events:
            await self._publish(event)

    async def stop(self) -> None:
        await self._store.stop()

    @property
    def health(self) -> Health:
        """The store's health when it reports one (a full disk degrades it)."""
        store_health = getattr(self._store, "health", None)
        return store_health if isinstance(store_health, Health) else Health(HealthState.READY)

    # -- time zones ------------------------------------------------------------------

    async def timezone(self, owner_id: str) -> str:
        return await self._store.get_timezone(owner_id)

    async def set_timezone(self, owner_id: str, tz: str) -> None:
        zone(tz)  # ValueError naming the zone
        await self._store.set_timezone(owner_id, tz)

    # -- jobs ------------------------------------------------------------------------

    async def create(
        self,
        owner_id: str,
        target: ConversationKey,
        kind: ActionKind,
        text: str,
        schedule: Schedule,
        *,
        notify: Notify = Notify.ALWAYS,
        on_missed: OnMissed = OnMissed.RUN_ONCE,
        origin: str | None = None,
        model: str | None = None,
    ) -> Job:
        """A new job; with `origin` (the turn, or tool call of a turn, asking for it) the
        job that origin already created is returned instead, so a message handled again
        after a crash creates nothing twice."""
        if origin is not None:
            made = await self._store.job_made_by(origin)
            if made is not None and made.owner_id == owner_id:
                log.info("job already created by this request", extra={"job_id": made.id})
                return made
        budget = current_run()
        if budget is not None and budget.exhausted:
            raise JobRefused(
                f"a scheduled run may create at most {budget.limit} job(s); this one was not "
                "created, so that a job cannot schedule itself again in a loop"
            )
        active = await self._store.list_jobs(owner_id)
        if len(active) >= self._limits.max_jobs_per_owner:
            raise JobRefused(
                f"you already have {len(active)} scheduled jobs, the most allowed "
                f"({self._limits.max_jobs_per_owner}); cancel one first (see /tasks)"
            )
        now = self._clock.now()
        if isinstance(schedule, OneShot) and schedule.at <= now:
            raise JobRefused("that time has already passed; pick a time in the future")
        job = Job.new(
            id=await self._store.new_job_id(),
            owner_id=owner_id,
            target=target,
            action=Action(kind, text, model),
            schedule=schedule,
            now=now,
            notify=notify,
            on_missed=on_missed,
            origin=origin,
        )
        await self._store.save(job)
        self._scheduler.schedule(job)
        if budget is not None:
            budget.created += 1
        log.info("job created", extra={"job_id": job.id, "kind": kind.value})
        await self._publish(JobCreated(job.id, owner_id))
        return job

    async def jobs(self, owner_id: str) -> list[Job]:
        return await self._store.list_jobs(owner_id)

    async def job(self, owner_id: str, job_id: str) -> Job:
        """The owner's job, or NotFound (also for a job that belongs to someone else)."""
        job_id = job_id.strip().lstrip("#")
        job = await self._store.get(job_id)
        if job is None or job.owner_id != owner_id:
            raise NotFound(f"no such job: {job_id} (see /tasks for your jobs)")
        return job

    # -- the operator's view (the control plane): every owner's jobs -------------------

    async def any_job(self, job_id: str) -> Job:
        """Any owner's job, or NotFound."""
        job = await self._store.get(job_id)
        if job is None:
            raise NotFound(f"no such job: {job_id}")
        return job

    async def all_jobs(self, owner_id: str | None = None) -> list[Job]:
        """One owner's jobs, finished ones too; or, without an owner, every active job."""
        if owner_id is None:
            return await self._store.active_jobs()
        return await self._store.list_jobs(owner_id, include_finished=True)

    async def runs(self, job_id: str) -> list[RunRecord]:
        """A job's run ledger (delivered, failed, missed with their reasons)."""
        await self.any_job(job_id)
        return await self._store.runs(job_id)

    async def update(
        self,
        owner_id: str,
        job_id: str,
        *,
        schedule: Schedule | None = None,
        text: str | None = None,
        notify: Notify | None = None,
    ) -> Job:
        job = await self.job(owner_id, job_id)
        if job.finished:
            raise JobRefused(f"job {job.id} has {job.state.value}; schedule a new one instead")
        now = self._clock.now()
        changes: dict[str, object] = {}
        if text is not None:
            changes["action"] = Action(job.action.kind, text)
        if notify is not None:
            changes["notify"] = notify
        if changes:
            job = job.edit(now, **changes)
        if schedule is not None:
            if job.state is JobState.RUNNING:
                raise JobRefused(f"job {job.id} is running right now; change it when it ends")
            if isinstance(schedule, OneShot) and schedule.at <= now:
                raise JobRefused("that time has already passed; pick a time in the future")
            job = job.reschedule(now, schedule)
        await self._store.save(job)
        self._scheduler.schedule(job)
        await self._publish(JobUpdated(job.id, owner_id))
        return job

    async def cancel(self, owner_id: str, job_id: str) -> Job:
        job = await self.job(owner_id, job_id)
        if job.finished:
            raise JobRefused(f"job {job.id} has already {job.state.value}")
        job = job.cancel(self._clock.now())
        await self._store.save(job)
        await self._publish(JobCancelled(job.id, owner_id))
        return job

    async def snooze(self, owner_id: str, job_id: str, seconds: float) -> Snoozed:
        """A new one-shot reminder of the same text, `seconds` from now (the fired one
        is finished, or goes on with its own schedule).

        Pressed again (a double tap, or the same button later) while the copy it made is
        still waiting, it makes no second one: that copy is returned, `again` set."""
        job = await self.job(owner_id, job_id)
        waiting = await self._snoozed_copy(job)
        if waiting is not None:
            return Snoozed(waiting, again=True)
        at = self._clock.now() + timedelta(seconds=seconds)
        tz = await self.timezone(owner_id)
        copy = await self.create(
            owner_id, job.target, job.action.kind, job.action.text, OneShot(at, tz)
        )
        return Snoozed(copy, again=False)

    async def _snoozed_copy(self, job: Job) -> Job | None:
        """A waiting one-shot of the same action in the same chat, made since `job` last
        fired: what a Snooze of that run made."""
        for other in await self._store.list_jobs(job.owner_id):
            if (
                other.id != job.id
                and other.state is JobState.SCHEDULED
                and isinstance(other.schedule, OneShot)
                and other.target == job.target
                and other.action == job.action
                and other.created_at >= job.updated_at
            ):
                return other
        return None

    async def run_now(self, owner_id: str, job_id: str) -> Job:
        """Answer "Run now" to a missed run: fire the job at once."""
        job = await self.job(owner_id, job_id)
        if job.state is not JobState.SCHEDULED:
            raise JobRefused(f"job {job.id} is {job.state.value}; nothing to run")
        job = job.run_now(self._clock.now())
        await self._store.save(job)
        self._scheduler.schedule(job)
        await self._publish(JobUpdated(job.id, owner_id))
        return job

    async def skip(self, owner_id: str, job_id: str) -> Job:
        """Answer "Skip" to a missed run: a held one-shot ends, a recurring job (already
        moved to its next run) is left as it is."""
        job = await self.job(owner_id, job_id)
        if job.state is JobState.SCHEDULED and job.next_run_at is None:
            now = self._clock.now()
            upcoming = next_occurrence(job.schedule, now) if job.recurring else None
            job = job.skip_to(now, upcoming)
            await self._store.save(job)
            self._scheduler.schedule(job)
            await self._publish(JobUpdated(job.id, owner_id))
        return job
