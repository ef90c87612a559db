"""An in-memory Scheduler for tests: fires due jobs one by one as a manual clock moves."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from minibot.core.jobs import Job, JobState
from minibot.core.ports.job_store import JobStore
from minibot.core.ports.scheduler import FireJob
from minibot.shared.background import watch
from minibot.shared.clock import SleepingClock

log = logging.getLogger(__name__)

# Long enough that an idle fake never wakes in a test; the clock is moved by hand anyway.
IDLE_SLEEP_SECONDS = 24 * 3600.0


class InMemoryScheduler:
    """A Scheduler (see the port) kept as simple as its promises allow: one entry per job
    (its earliest known due time, checked against the store when it comes up), and one
    loop that sleeps on the clock until the earliest entry, then starts every due run in
    one `start_runs` write and fires them one after another, soonest first.
    """

    def __init__(
        self,
        store: JobStore,
        fire: FireJob,
        clock: SleepingClock,
        *,
        stop_timeout_seconds: float = 5.0,
    ) -> None:
        self._store = store
        self._fire = fire
        self._clock = clock
        self._stop_timeout = stop_timeout_seconds
        self._due: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        for due, job_id in await self._store.scheduled_times():
            self._note(job_id, due)
        self._stopping = False
        self._loop = asyncio.create_task(self._run(), name="in-memory-scheduler")

    async def run(self) -> None:
        while not self._stopping:
            loop = self._loop
            if loop is None:
                loop = self._loop = asyncio.create_task(self._run(), name="in-memory-scheduler")
            try:
                await watch(loop)
            finally:
                if loop.done():
                    self._loop = None  # the next run starts a new loop

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        loop, self._loop = self._loop, None
        if loop is None:
            return
        # The loop is either asleep (it ends at once) or awaiting a fire to finish.
        done, _ = await asyncio.wait({loop}, timeout=self._stop_timeout)
        if not done:
            loop.cancel()
            await asyncio.wait({loop})
            log.warning("scheduler stopped with a run cut short")

    def schedule(self, job: Job) -> None:
        if job.state is JobState.SCHEDULED and job.next_run_at is not None:
            self._note(job.id, job.next_run_at)

    def _note(self, job_id: str, due: datetime) -> None:
        known = self._due.get(job_id)
        if known is None or due < known:
            self._due[job_id] = due
            self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            now = self._clock.now()
            due = sorted((at, job_id) for job_id, at in self._due.items() if at <= now)
            if due:
                await self._fire_due([job_id for _, job_id in due], now)
                continue
            upcoming = min(self._due.values(), default=None)
            delay = IDLE_SLEEP_SECONDS if upcoming is None else (upcoming - now).total_seconds()
            await self._clock.sleep(delay, self._wake)

    async def _fire_due(self, job_ids: list[str], now: datetime) -> None:
        for job_id in job_ids:
            del self._due[job_id]
        fired: set[str] = set()
        for job, run in await self._store.start_runs(job_ids, now):
            if self._stopping:
                break  # recorded as started: the next start-up recovers it
            fired.add(job.id)
            try:
                await self._fire(job, run)
            except Exception:
                log.exception("scheduled job failed to run", extra={"job_id": job.id})
        for job_id in job_ids:
            await self._reschedule(job_id, fired=job_id in fired)

    async def _reschedule(self, job_id: str, *, fired: bool) -> None:
        job = await self._store.get(job_id)
        if job is None or job.state is not JobState.SCHEDULED or job.next_run_at is None:
            if fired and job is not None and job.state is JobState.RUNNING:
                # Firing it again would loop; a restart's recovery settles it.
                log.error("a fired job was left running", extra={"job_id": job_id})
            return
        self._note(job_id, job.next_run_at)
