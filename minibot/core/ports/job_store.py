"""Port: where scheduled jobs, their run ledger and each user's time zone are kept."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from minibot.core.jobs import Job, RunRecord


class JobStore(Protocol):
    """Durable jobs, run ledger and per-user time zones.

    Promises:
    - A write (`save`, `set_timezone`) is durable when its await returns; a write that
      raises StoreError may or may not have been kept, so callers retry it as a whole
      (every write is an idempotent upsert); by then the store has reloaded its state
      from disk. A write whose caller is cancelled still completes.
    - `save(job, runs)` is atomic: after a crash either the job and all of `runs` are
      kept, or none of them.
    - Reads reflect every write that has returned (the file store: every write that has
      begun, in call order, without touching the disk).
    - A ledger outcome, once recorded for an occurrence, never changes: saving a
      different one raises IllegalTransition (saving the same one again is a no-op).
    - "Not found" is None (`get`) or an empty list; nothing raises NotFound.
    - `start()` of the file store refuses (StoreError naming the path) a store another
      process holds or one on a network file system; the SQL store may be shared by
      several processes, each running what it claimed (`start_runs`). `stop()` is safe
      to call twice and after a failed start.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def new_job_id(self) -> str:
        """A short id (a decimal number) never handed out before by this store."""
        ...

    async def save(self, job: Job, runs: Sequence[RunRecord] = ()) -> None:
        """Insert or replace `job` and merge `runs` into its ledger, as one record."""
        ...

    async def save_many(self, items: Sequence[tuple[Job, Sequence[RunRecord]]]) -> None:
        """`save` for each item (each atomic on its own), sharing one durable write."""
        ...

    async def start_runs(
        self, job_ids: Sequence[str], now: datetime
    ) -> list[tuple[Job, RunRecord]]:
        """Start the run of each listed job that is scheduled and due at `now`: the job
        becomes RUNNING (`job.start(now)`) with an open ledger entry, all in one durable
        write. Returns (running job, open run) for those started, in order; jobs no longer
        due are left alone. A store shared by several processes claims each job started
        for a lease: of several callers naming the same due job one starts it, and a
        running job whose lease ran out (its process died) is started again, for the
        same occurrence."""
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def job_made_by(self, origin: str) -> Job | None:
        """The job saved with this `origin` key (finished ones included), else None."""
        ...

    async def list_jobs(self, owner_id: str, *, include_finished: bool = False) -> list[Job]:
        """The owner's jobs, soonest next run first (those without one last)."""
        ...

    async def active_jobs(self) -> list[Job]:
        """Every job scheduled or running (running ones were interrupted, after a crash)."""
        ...

    async def due_jobs(self, until: datetime) -> list[Job]:
        """Scheduled jobs with next_run_at <= until, plus every running job (with leases:
        every one no live claim covers)."""
        ...

    async def scheduled_times(self) -> list[tuple[datetime, str]]:
        """(next_run_at, job id) of every scheduled job with a next run, in no order, as a
        new list the caller may reorder: all a scheduler needs at start-up, and cheaper
        than `active_jobs()` for a large store. A store with leases adds (lease end, job
        id) of each claimed running job, so a claim left by a dead process is asked for
        again when it ends."""
        ...

    async def runs(self, job_id: str) -> list[RunRecord]:
        """The job's recent ledger entries, oldest occurrence first."""
        ...

    async def set_timezone(self, owner_id: str, tz: str) -> None: ...

    async def get_timezone(self, owner_id: str) -> str:
        """The owner's stored time zone, else the configured default."""
        ...
