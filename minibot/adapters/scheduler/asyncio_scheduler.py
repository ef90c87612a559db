"""The scheduler on asyncio: a heap of next run times and one task sleeping until the first."""

from __future__ import annotations

import asyncio
import heapq
import logging

from minibot.core.jobs import Job, JobState
from minibot.core.ports.scheduler import FireJob
from minibot.core.ports.task_store import TaskStore
from minibot.shared.clock import SleepingClock

log = logging.getLogger(__name__)


class _FireFailed(Exception):
    def __init__(self, job: Job) -> None:
        self.job = job


class AsyncioScheduler:
    """A Scheduler (see the port for its promises).

    Only the heap's head needs a timer: one loop sleeps until the earliest next run,
    capped at `max_sleep_seconds` so a wall-clock jump is noticed within that time, and
    `schedule()` wakes it when a job comes due earlier. Idle, it costs one wake-up per
    cap. Jobs due together fire concurrently, at most `max_concurrent_fires` at a time,
    so their "started" records share the store's fsyncs. The heap holds (due time, job
    id) and may hold stale entries; each is checked against the store when it comes up.
    """

    def __init__(
        self,
        store: TaskStore,
        fire: FireJob,
        clock: SleepingClock,
        *,
        max_concurrent_fires: int = 500,
        max_sleep_seconds: float = 3600.0,
        stop_timeout_seconds: float = 30.0,
    ) -> None:
        self._store = store
        self._fire = fire
        self._clock = clock
        self._max_concurrent = max_concurrent_fires
        self._max_sleep = max_sleep_seconds
        self._stop_timeout = stop_timeout_seconds
        self._heap: list[tuple[float, str]] = []
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.wakeups = 0  # times the loop woke up, for the benchmark and tests
        self.fired = 0

    @property
    def pending(self) -> int:
        """Heap entries, stale ones included."""
        return len(self._heap)

    async def start(self) -> None:
        jobs = await self._store.active_jobs()
        self._heap = [
            (job.next_run_at.timestamp(), job.id)
            for job in jobs
            if job.state is JobState.SCHEDULED and job.next_run_at is not None
        ]
        heapq.heapify(self._heap)
        self._stopping = False
        self._loop_task = asyncio.create_task(self._run_loop(), name="scheduler")
        log.info("scheduler started", extra={"jobs": len(self._heap)})

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        loop_task, self._loop_task = self._loop_task, None
        if loop_task is not None:
            await loop_task
        if self._tasks:
            # Runs in flight are recording their outcome; give them time to finish.
            _, late = await asyncio.wait(set(self._tasks), timeout=self._stop_timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
                log.warning("scheduler stopped with runs cut short", extra={"runs": len(late)})

    def schedule(self, job: Job) -> None:
        if job.state is not JobState.SCHEDULED or job.next_run_at is None:
            return
        self._push(job.next_run_at.timestamp(), job.id)

    def _push(self, due: float, job_id: str) -> None:
        earliest = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (due, job_id))
        if earliest is None or due < earliest:
            self._wake.set()

    async def _run_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            now = self._clock.now().timestamp()
            self._fire_due(now)
            if len(self._in_flight) >= self._max_concurrent or not self._heap:
                delay = self._max_sleep  # a finishing run or a new job sets the event
            else:
                delay = min(self._heap[0][0] - now, self._max_sleep)
            await self._clock.sleep(delay, self._wake)
            self.wakeups += 1

    def _fire_due(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now and len(self._in_flight) < self._max_concurrent:
            due, job_id = heapq.heappop(heap)
            if job_id in self._in_flight:
                continue  # re-read from the store when its run ends
            self._in_flight.add(job_id)
            task = asyncio.create_task(self._run_one(job_id, due), name=f"job-{job_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_one(self, job_id: str, due: float) -> None:
        fired: Job | None = None
        try:
            fired = await self._fire_if_due(job_id)
        except _FireFailed as failed:
            fired = failed.job
            log.error(
                "scheduled job failed to fire", exc_info=failed.__cause__, extra={"job_id": job_id}
            )
        except Exception:
            log.exception("scheduled job could not be read", extra={"job_id": job_id})
        finally:
            self._in_flight.discard(job_id)
            self._wake.set()  # a slot is free
        try:
            await self._after_run(job_id, fired)
        except Exception:
            log.exception("scheduled job could not be rescheduled", extra={"job_id": job_id})

    async def _fire_if_due(self, job_id: str) -> Job | None:
        """Fire the job if the store still says it is due; returns the job fired."""
        job = await self._store.get(job_id)
        if job is None or job.state is not JobState.SCHEDULED or job.next_run_at is None:
            return None  # cancelled, finished or held since it was queued
        if job.next_run_at.timestamp() > self._clock.now().timestamp() or self._stopping:
            return None  # moved later (rescheduled after the run), or shutting down
        self.fired += 1
        try:
            await self._fire(job, job.occurrence or job.next_run_at)
        except Exception as exc:
            raise _FireFailed(job) from exc
        return job

    async def _after_run(self, job_id: str, fired: Job | None) -> None:
        job = await self._store.get(job_id)
        if job is None or job.state is not JobState.SCHEDULED or job.next_run_at is None:
            return
        if job is fired or (fired is not None and job.updated_at == fired.updated_at):
            # Firing again would loop at full speed; wait for an explicit schedule().
            log.error(
                "a fired job was left unchanged; not firing it again", extra={"job_id": job_id}
            )
            return
        self._push(job.next_run_at.timestamp(), job_id)
