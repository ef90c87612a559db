"""An in-memory JobStore: the same promises as the file store, minus durability."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from minibot.core.jobs import Job, JobState, RunRecord
from minibot.core.schedule import zone


class InMemoryJobStore:
    def __init__(self, *, default_timezone: str = "UTC", max_runs_per_job: int = 50) -> None:
        self.default_timezone = default_timezone
        self.max_runs_per_job = max_runs_per_job
        self.jobs: dict[str, Job] = {}
        self.ledger: dict[str, dict[datetime, RunRecord]] = {}
        self.timezones: dict[str, str] = {}
        self.saves = 0
        self._last_id = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def new_job_id(self) -> str:
        self._last_id += 1
        return str(self._last_id)

    async def save(self, job: Job, runs: Sequence[RunRecord] = ()) -> None:
        if any(run.job_id != job.id for run in runs):
            raise ValueError(f"runs saved with job {job.id} must belong to it")
        ledger = dict(self.ledger.get(job.id, {}))
        for run in runs:
            current = ledger.get(run.occurrence)
            ledger[run.occurrence] = current.merge(run) if current is not None else run
        keep = sorted(ledger)[-self.max_runs_per_job :]
        self.ledger[job.id] = {occurrence: ledger[occurrence] for occurrence in keep}
        self.jobs[job.id] = job
        if job.id.isdigit():
            self._last_id = max(self._last_id, int(job.id))
        self.saves += 1

    async def save_many(self, items: Sequence[tuple[Job, Sequence[RunRecord]]]) -> None:
        for job, runs in items:
            for run in runs:
                if run.job_id != job.id:
                    raise ValueError(f"runs saved with job {job.id} must belong to it")
                current = self.ledger.get(job.id, {}).get(run.occurrence)
                if current is not None:
                    current.merge(run)  # raises before anything changes
        for job, runs in items:
            await self.save(job, runs)

    async def start_runs(
        self, job_ids: Sequence[str], now: datetime
    ) -> list[tuple[Job, RunRecord]]:
        started = []
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            if job is None or job.state is not JobState.SCHEDULED:
                continue
            if job.next_run_at is None or job.next_run_at > now:
                continue
            running = job.start(now)
            run = RunRecord.started(running, now)
            await self.save(running, [run])
            started.append((running, run))
        return started

    async def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    async def job_made_by(self, origin: str) -> Job | None:
        return next((j for j in self.jobs.values() if j.origin == origin), None)

    async def list_jobs(self, owner_id: str, *, include_finished: bool = False) -> list[Job]:
        mine = [
            j
            for j in self.jobs.values()
            if j.owner_id == owner_id and (include_finished or not j.finished)
        ]
        return sorted(mine, key=Job.soonest_first)

    async def active_jobs(self) -> list[Job]:
        return [j for j in self.jobs.values() if not j.finished]

    async def due_jobs(self, until: datetime) -> list[Job]:
        return [j for j in self.jobs.values() if j.is_due(until)]

    async def scheduled_times(self) -> list[tuple[datetime, str]]:
        return [
            (j.next_run_at, j.id)
            for j in self.jobs.values()
            if j.state is JobState.SCHEDULED and j.next_run_at is not None
        ]

    async def runs(self, job_id: str) -> list[RunRecord]:
        return list(self.ledger.get(job_id, {}).values())

    async def set_timezone(self, owner_id: str, tz: str) -> None:
        zone(tz)
        self.timezones[owner_id] = tz

    async def get_timezone(self, owner_id: str) -> str:
        return self.timezones.get(owner_id, self.default_timezone)
