"""A minimal task service for tests: how a fire callback uses the store and the ledger."""

from __future__ import annotations

import asyncio
from datetime import datetime

from minibot.core.jobs import Job, Recovery, RunOutcome, RunRecord, idempotency_key, plan_recovery
from minibot.core.ports.job_store import JobStore
from minibot.core.schedule import next_occurrence
from minibot.shared.clock import SleepingClock


class FireRecorder:
    """Acts on a started run and records its outcome. `sent` plays the
    delivery layer's ledger: an effect whose idempotency key was already sent is not
    sent again, so a run re-fired after a crash reaches the user once."""

    def __init__(
        self,
        store: JobStore,
        clock: SleepingClock,
        sent: dict[str, int] | None = None,
        *,
        crash_after_delivery: bool = False,
    ) -> None:
        self.store = store
        self.clock = clock
        self.sent = sent if sent is not None else {}
        self.fired: list[tuple[str, datetime]] = []
        self.completed: list[tuple[str, datetime]] = []
        self._changed = asyncio.Condition()
        self.crash_after_delivery = crash_after_delivery
        self._hang = asyncio.Event()

    async def recover(self, grace_window_seconds: float) -> list[Recovery]:
        now = self.clock.now()
        plans = []
        for job in await self.store.due_jobs(now):
            plan = plan_recovery(job, now, grace_window_seconds)
            if plan is not None:
                await self.store.save(plan.job, plan.runs)
                plans.append(plan)
        return plans

    async def fire(self, job: Job, run: RunRecord) -> None:
        """The scheduler has saved `job` as running and `run` as started."""
        self.fired.append((job.id, run.occurrence))
        await self._notify()
        key = idempotency_key(job.id, run.occurrence)
        if key not in self.sent:
            self.sent[key] = 1  # the user sees the message
        if self.crash_after_delivery:
            await self._hang.wait()  # the process "dies" here: stop() cancels us
        now = self.clock.now()
        upcoming = (
            next_occurrence(job.schedule, max(now, run.occurrence)) if job.recurring else None
        )
        await self.store.save(job.succeed(now, upcoming), [run.finish(RunOutcome.DELIVERED, now)])
        self.completed.append((job.id, run.occurrence))
        await self._notify()

    async def wait_until(self, *, fired: int = 0, completed: int = 0) -> None:
        """Wait (10 s at most) until that many runs began and finished."""
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(
                lambda: len(self.fired) >= fired and len(self.completed) >= completed
            )

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
