"""Fires a started run: its strategy's effect, then one recorded outcome or a retry."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from minibot.app.jobs.job_text import what_text
from minibot.app.jobs.run_budget import inside_run
from minibot.app.jobs.strategies import Strategy
from minibot.core.backoff import Backoff
from minibot.core.commands import SendReply
from minibot.core.errors import RunMissed
from minibot.core.events import JobCompleted, JobFailed, JobStarted
from minibot.core.jobs import (
    ActionKind,
    Job,
    JobState,
    Notify,
    RunOutcome,
    RunRecord,
    idempotency_key,
)
from minibot.core.messages import OutgoingMessage
from minibot.core.ports.bus import Publish
from minibot.core.ports.clock import Clock
from minibot.core.ports.job_store import JobStore
from minibot.core.ports.tracer import Tracer
from minibot.core.schedule import next_occurrence
from minibot.core.tracing import NO_TRACER
from minibot.shared.trace_context import traced

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    initial_delay_seconds: float
    max_delay_seconds: float = 3600.0

    def delay_seconds(self, attempts: int) -> float:
        """Doubling back-off: the wait before try `attempts + 1`."""
        return Backoff(self.initial_delay_seconds, self.max_delay_seconds).delay(attempts)


class JobRunner:
    """The scheduler's `fire(job, run)` callback (see the Scheduler port).

    Every run ends in exactly one ledger outcome: delivered, or failed after
    `max_attempts` tries (a retry keeps the occurrence, and with it the idempotency key).
    Jobs the run creates through tools are capped by `max_jobs_created_per_run`.
    """

    def __init__(
        self,
        store: JobStore,
        strategies: Mapping[ActionKind, Strategy],
        publish: Publish,
        clock: Clock,
        *,
        retry: RetryPolicy,
        max_jobs_created_per_run: int,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self._tracer = tracer
        self._store = store
        self._strategies = strategies
        self._publish = publish
        self._clock = clock
        self._retry = retry
        self._max_created = max_jobs_created_per_run

    async def fire(self, job: Job, run: RunRecord) -> None:
        # Each run is its own trace, like an incoming message.
        with traced(None), self._tracer.span("job.run", {"kind": str(job.action.kind)}):
            await self._fire(job, run)

    async def _fire(self, job: Job, run: RunRecord) -> None:
        key = idempotency_key(job.id, run.occurrence)
        await self._publish(JobStarted(job.id, run.occurrence))
        try:
            with inside_run(job.id, self._max_created):
                note = await self._strategies[job.action.kind].perform(job, key)
        except asyncio.CancelledError:
            raise  # shutdown: the run stays open and is re-run at the next start
        except RunMissed as exc:
            await self._missed(job, run, str(exc))
            return
        except Exception as exc:
            await self._failed(job, run, str(exc) or type(exc).__name__)
            return
        now = self._clock.now()
        current = await self._current(job)
        moved = current
        if current.state is JobState.RUNNING:
            moved = current.succeed(now, self._upcoming(current, run, now))
        await self._store.save(moved, [run.finish(RunOutcome.DELIVERED, now, note)])
        await self._publish(JobCompleted(job.id, run.occurrence))

    async def _failed(self, job: Job, run: RunRecord, reason: str) -> None:
        now = self._clock.now()
        current = await self._current(job)
        if current.state is JobState.RUNNING and current.attempts < self._retry.max_attempts:
            delay = self._retry.delay_seconds(current.attempts)
            log.warning(
                "scheduled run failed; will retry",
                extra={"job_id": job.id, "attempt": current.attempts, "delay_seconds": delay},
            )
            await self._store.save(current.retry(now, reason, now + timedelta(seconds=delay)))
            return
        log.error("scheduled run failed", extra={"job_id": job.id, "reason": reason})
        moved = current
        if current.state is JobState.RUNNING:
            moved = current.fail(now, reason, self._upcoming(current, run, now))
        await self._store.save(moved, [run.finish(RunOutcome.FAILED, now, reason)])
        await self._publish(JobFailed(job.id, run.occurrence, reason))
        if job.notify is Notify.ALWAYS:
            # Never silence: the person learns that this occurrence did not happen.
            text = (
                f"Your scheduled {what_text(job)} (job {job.id}) failed after "
                f"{current.attempts} attempt(s): {reason}"
            )
            key = idempotency_key(job.id, run.occurrence) + ":failed"
            await self._publish(SendReply(OutgoingMessage(job.target, text, key)))

    async def _missed(self, job: Job, run: RunRecord, reason: str) -> None:
        """Not run on purpose (a budget): recorded as missed, not retried, owner told."""
        now = self._clock.now()
        current = await self._current(job)
        log.warning("scheduled run missed", extra={"job_id": job.id, "reason": reason})
        moved = current
        if current.state is JobState.RUNNING:
            moved = current.fail(now, reason, self._upcoming(current, run, now))
        await self._store.save(moved, [run.finish(RunOutcome.MISSED, now, reason)])
        await self._publish(JobFailed(job.id, run.occurrence, reason))
        # Told whatever `notify` says: a budget silencing a job is never silent.
        text = f"Your scheduled {what_text(job)} (job {job.id}) did not run: {reason}"
        key = idempotency_key(job.id, run.occurrence) + ":missed"
        await self._publish(SendReply(OutgoingMessage(job.target, text, key)))

    async def _current(self, job: Job) -> Job:
        # The person may have cancelled or changed the job while it ran: their change wins.
        return await self._store.get(job.id) or job

    @staticmethod
    def _upcoming(job: Job, run: RunRecord, now: datetime) -> datetime | None:
        if not job.recurring:
            return None
        return next_occurrence(job.schedule, max(now, run.occurrence))
