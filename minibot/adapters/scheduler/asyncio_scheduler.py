"""The scheduler on asyncio: a heap of next run times and one task sleeping until the first."""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from minibot.core.jobs import Job, JobState, RunRecord
from minibot.core.ports.job_store import JobStore
from minibot.core.ports.scheduler import FireJob
from minibot.shared.background import watch
from minibot.shared.clock import SleepingClock

log = logging.getLogger(__name__)


class AsyncioScheduler:
    """A Scheduler (see the port for its promises).

    Only the heap's head needs a timer: one loop sleeps until the earliest next run,
    capped at `max_sleep_seconds` so a wall-clock jump is noticed within that time, and
    `schedule()` wakes it when a job comes due earlier. Idle, it costs one wake-up per
    cap. Jobs due together fire concurrently, at most `max_concurrent_fires` at a time,
    so their "started" records share the store's fsyncs. The heap holds (due time, job
    id) and may hold stale entries; each is checked against the store when it comes up.

    With `refresh_seconds` (replicas sharing a SQL job store), the heap is merged with the
    store's schedule that often, so a job another replica created (or one whose creator
    died) is fired here too; the store's claim lets only one replica run an occurrence.
    """

    def __init__(
        self,
        store: JobStore,
        fire: FireJob,
        clock: SleepingClock,
        *,
        max_concurrent_fires: int = 1000,
        max_sleep_seconds: float = 3600.0,
        stop_timeout_seconds: float = 30.0,
        refresh_seconds: float | None = None,
    ) -> None:
        self._store = store
        self._refresh_seconds = refresh_seconds
        self._refreshed_at: datetime | None = None
        self._fire = fire
        self._clock = clock
        self._max_concurrent = max_concurrent_fires
        self._max_sleep = max_sleep_seconds
        self._stop_timeout = stop_timeout_seconds
        self._heap: list[tuple[datetime, str]] = []
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
        # Times only: the heap needs no more, and a store may avoid building every Job.
        self._heap = await self._store.scheduled_times()
        heapq.heapify(self._heap)
        self._stopping = False
        self._loop_task = asyncio.create_task(self._run_loop(), name="scheduler")
        log.info("scheduler started", extra={"jobs": len(self._heap)})

    async def run(self) -> None:
        """The firing loop, for the daemon's supervisor: returns once stopped, raises if
        the loop died (a broken clock, a bug), and a new `run` starts a new loop."""
        while not self._stopping:
            task = self._loop_task
            if task is None:
                task = self._loop_task = asyncio.create_task(self._run_loop(), name="scheduler")
            try:
                await watch(task)
            finally:
                if task.done():
                    self._loop_task = None  # the next run starts a new loop

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        loop_task, self._loop_task = self._loop_task, None
        if loop_task is not None:
            # A loop that died was reported by `run`; stopping goes on regardless.
            await asyncio.wait({loop_task})
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
        self._push(job.next_run_at, job.id)

    def _push(self, due: datetime, job_id: str) -> None:
        earliest = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (due, job_id))
        if earliest is None or due < earliest:
            self._wake.set()

    async def _run_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            await self._refresh()
            now = self._clock.now()
            self._fire_due(now)
            if len(self._in_flight) >= self._max_concurrent or not self._heap:
                delay = self._max_sleep  # a finishing run or a new job sets the event
            else:
                delay = min((self._heap[0][0] - now).total_seconds(), self._max_sleep)
            if self._refresh_seconds is not None:
                delay = min(delay, self._refresh_seconds)
            await self._clock.sleep(delay, self._wake)
            self.wakeups += 1

    async def _refresh(self) -> None:
        """Merges the store's schedule into the heap, every `refresh_seconds`."""
        if self._refresh_seconds is None:
            return
        moment = self._clock.now()
        last = self._refreshed_at
        if last is not None and (moment - last).total_seconds() < self._refresh_seconds:
            return
        self._refreshed_at = moment
        try:
            stored = await self._store.scheduled_times()
        except Exception as exc:
            log.warning("scheduler could not re-read the job store", extra={"error": repr(exc)})
            return
        present = set(self._heap)
        for entry in stored:
            if entry not in present:
                heapq.heappush(self._heap, entry)

    def _fire_due(self, now: datetime) -> None:
        heap = self._heap
        due: list[str] = []
        while heap and heap[0][0] <= now and len(self._in_flight) < self._max_concurrent:
            _, job_id = heapq.heappop(heap)
            if job_id in self._in_flight:
                continue  # re-read from the store when its run ends
            self._in_flight.add(job_id)
            due.append(job_id)
        if due:
            self._spawn(self._start_batch(due), "start-runs")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_batch(self, job_ids: list[str]) -> None:
        """Record the runs of every job due now as started, in one durable write, then
        fire each; jobs that are no longer due are only rescheduled."""
        started: list[tuple[Job, RunRecord]] = []
        try:
            if not self._stopping:
                started = await self._store.start_runs(job_ids, self._clock.now())
        except Exception:
            log.exception("could not record runs as started", extra={"jobs": len(job_ids)})
        for job, run in started:
            self.fired += 1
            self._spawn(self._run_one(job, run), f"job-{job.id}")
        fired = {job.id for job, _ in started}
        for job_id in job_ids:
            if job_id not in fired:
                self._in_flight.discard(job_id)
                await self._after_run(job_id, None)
        self._wake.set()

    async def _run_one(self, job: Job, run: RunRecord) -> None:
        try:
            await self._fire(job, run)
        except Exception:
            log.exception("scheduled job failed to run", extra={"job_id": job.id})
        finally:
            self._in_flight.discard(job.id)
            self._wake.set()  # a slot is free
        try:
            await self._after_run(job.id, job)
        except Exception:
            log.exception("scheduled job could not be rescheduled", extra={"job_id": job.id})

    async def _after_run(self, job_id: str, fired: Job | None) -> None:
        job = await self._store.get(job_id)
        if job is None or job.state is not JobState.SCHEDULED or job.next_run_at is None:
            if job is not None and job is fired:
                # Left running: firing again would loop; a restart recovers it.
                log.error("a fired job was left running", extra={"job_id": job_id})
            return
        self._push(job.next_run_at, job_id)
