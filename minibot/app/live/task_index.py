"""Every active job in memory, so the control plane lists thousands without a store scan."""

from __future__ import annotations

import asyncio

from minibot.app.jobs.job_service import JobService
from minibot.core.errors import NotFound
from minibot.core.events import (
    Event,
    JobCancelled,
    JobCompleted,
    JobCreated,
    JobFailed,
    JobStarted,
    JobUpdated,
)
from minibot.core.jobs import Job
from minibot.core.ports.bus import Bus


class TaskIndex:
    """The active jobs of every owner, loaded from the store at the first listing and
    kept current by the job events on the bus (each re-reads its one job) and by the
    control plane's own changes (`put`, so a listing right after a cancel agrees with
    it). Decoding 10,000 jobs from the store takes seconds; a listing from here is a
    filter over a dict."""

    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs
        self._active: dict[str, Job] | None = None
        self._loading = asyncio.Lock()

    def subscribe_to(self, bus: Bus) -> None:
        kinds: tuple[type[Event], ...] = (
            JobCreated,
            JobUpdated,
            JobCancelled,
            JobStarted,
            JobCompleted,
            JobFailed,
        )
        for kind in kinds:
            bus.subscribe(kind, self._on_job_event, name="task-index")

    async def active(self) -> list[Job]:
        if self._active is None:
            async with self._loading:
                if self._active is None:
                    jobs = await self._jobs.all_jobs(None)
                    self._active = {job.id: job for job in jobs if not job.finished}
        return list(self._active.values())

    def put(self, job: Job) -> None:
        if self._active is None:
            return
        if job.finished:
            self._active.pop(job.id, None)
        else:
            self._active[job.id] = job

    async def _on_job_event(self, event: Event) -> None:
        if self._active is None:
            return
        job_id = str(getattr(event, "job_id", ""))
        try:
            self.put(await self._jobs.any_job(job_id))
        except NotFound:
            self._active.pop(job_id, None)
