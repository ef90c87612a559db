"""The SQL job store's statements: upserts built once, the claim, leases, the ledger's trim."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, delete, literal, or_, select, update

from minibot.adapters.sql.job_rows import CLAIM_COLUMNS
from minibot.adapters.sql.tables import UtcDateTime, job_runs, jobs
from minibot.core.jobs import JobState

SCHEDULED = JobState.SCHEDULED.value
RUNNING = JobState.RUNNING.value


class JobStatements:
    """What `SqlJobStore` runs, for one claimer. The upserts are built once and run with
    parameters: compiling an INSERT of a thousand rows' values costs more than running
    it. `insert` is the database's dialect-aware INSERT (ON CONFLICT)."""

    def __init__(
        self,
        insert: Callable[[Table], Any],
        *,
        claimer: str,
        lease: timedelta,
        max_runs_per_job: int,
    ) -> None:
        self.claimer = claimer
        self.lease = lease
        self.max_runs_per_job = max_runs_per_job
        job = insert(jobs)
        replaced = {
            c.name: job.excluded[c.name]
            for c in jobs.c
            if not c.primary_key and c.name not in CLAIM_COLUMNS
        }
        # A job saved running keeps its claim; saved in any other state, it is released.
        self.upsert_running = job.on_conflict_do_update(index_elements=[jobs.c.id], set_=replaced)
        self.upsert_released = job.on_conflict_do_update(
            index_elements=[jobs.c.id], set_={**replaced, **dict.fromkeys(CLAIM_COLUMNS)}
        )
        run = insert(job_runs)
        self.upsert_runs = run.on_conflict_do_update(
            index_elements=[job_runs.c.job_id, job_runs.c.occurrence],
            set_={c.name: run.excluded[c.name] for c in job_runs.c if not c.primary_key},
        )
        self._insert = insert

    def claim(self, wanted: list[str], now: datetime) -> tuple[Any, Any]:
        """The UPDATE claiming those of `wanted` due at `now` (or whose lease ended by
        then), returning their rows, and the INSERT of their open runs, to run after it
        in the same transaction."""
        claimable = or_(
            and_(
                jobs.c.state == SCHEDULED,
                jobs.c.next_run_at <= now,
                jobs.c.occurrence.is_not(None),
            ),
            and_(jobs.c.state == RUNNING, jobs.c.lease_until <= now),
        )
        # SKIP LOCKED: rows another claimer is taking are passed over, not waited for;
        # SQLite renders no locking clause and runs one writer at a time anyway.
        chosen = (
            select(jobs.c.id)
            .where(jobs.c.id.in_(wanted), claimable)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(jobs)
            .where(jobs.c.id.in_(chosen), claimable)
            .values(
                state=RUNNING,
                attempts=jobs.c.attempts + 1,
                updated_at=now,
                claimed_by=self.claimer,
                lease_until=now + self.lease,
            )
            .returning(*jobs.c)
        )
        # The open runs are copied from the rows just claimed, inside the database: a
        # thousand rows' parameters would cost more than the claim itself. A run started
        # again (a retry, a claim taken over) keeps an outcome if it has one.
        claimed = select(
            jobs.c.id, jobs.c.occurrence, jobs.c.attempts, literal(now, UtcDateTime())
        ).where(
            jobs.c.id.in_(wanted),
            jobs.c.state == RUNNING,
            jobs.c.claimed_by == self.claimer,
            jobs.c.updated_at == now,
        )
        columns = ["job_id", "occurrence", "attempts", "started_at"]
        insert = self._insert(job_runs).from_select(columns, claimed)
        open_runs = insert.on_conflict_do_update(
            index_elements=[job_runs.c.job_id, job_runs.c.occurrence],
            set_={"attempts": insert.excluded.attempts, "started_at": insert.excluded.started_at},
            where=job_runs.c.outcome.is_(None),
        )
        return claim, open_runs

    def renew(self, now: datetime) -> Any:
        return (
            update(jobs)
            .where(jobs.c.claimed_by == self.claimer, jobs.c.state == RUNNING)
            .values(lease_until=now + self.lease)
        )

    @staticmethod
    def lapsed(now: datetime) -> Any:
        """Running jobs whose lease ended by `now`, locked (skipping those being taken)."""
        return (
            select(jobs)
            .where(jobs.c.state == RUNNING, jobs.c.lease_until <= now)
            .with_for_update(skip_locked=True)
        )

    @staticmethod
    def outcomes(job_id: str, occurrences: list[datetime]) -> Any:
        return select(job_runs.c.occurrence, job_runs.c.outcome).where(
            job_runs.c.job_id == job_id, job_runs.c.occurrence.in_(occurrences)
        )

    def trim_runs(self, job_id: str) -> Any:
        """Deletes all but the newest `max_runs_per_job` occurrences of the job's ledger."""
        cutoff = (
            select(job_runs.c.occurrence)
            .where(job_runs.c.job_id == job_id)
            .order_by(job_runs.c.occurrence.desc())
            .offset(self.max_runs_per_job - 1)
            .limit(1)
            .scalar_subquery()
        )
        return delete(job_runs).where(job_runs.c.job_id == job_id, job_runs.c.occurrence < cutoff)
