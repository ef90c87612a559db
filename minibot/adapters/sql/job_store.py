"""SqlJobStore: jobs, their run ledger and time zones in SQL, claimed under a lease."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, union_all, update

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.job_rows import job_from_row, job_row, run_from_row, run_row
from minibot.adapters.sql.job_statements import RUNNING, SCHEDULED, JobStatements
from minibot.adapters.sql.tables import job_ids, job_runs, job_timezones, jobs
from minibot.core.errors import IllegalTransition
from minibot.core.health import Health
from minibot.core.jobs import Job, JobState, RunRecord
from minibot.core.schedule import zone

_COUNTER = "jobs"


def default_claimer() -> str:
    """Names this process in the claims it takes: host, pid, and a token for this run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SqlJobStore:
    """A JobStore (see the port) on the shared SqlDatabase, which several processes may
    share: unlike the file store it is not locked to one process, and reads go to the
    database, so they reflect every write that has returned.

    `start_runs` claims jobs with one UPDATE (on PostgreSQL over a `FOR UPDATE SKIP
    LOCKED` sub-select; SQLite serialises writers): each started job is marked as claimed
    by this store's `claimer` until `lease_seconds` from `now`, and its open run is
    written in the same transaction. Of several processes asking for the same due job
    one gets it. A claim whose lease ran out (its process died, or stopped renewing it
    with `renew_leases`) is taken over by the next `start_runs` that names the job: the
    same occurrence fires again, under the same idempotency key. `scheduled_times` lists
    each claimed running job at its lease's end, so a scheduler asks for it then. Saving a
    job that is no longer running releases its claim; its outcome, its ledger row and its
    next occurrence are one transaction.
    """

    def __init__(
        self,
        database: SqlDatabase,
        *,
        default_timezone: str = "UTC",
        max_runs_per_job: int = 50,
        lease_seconds: float = 60.0,
        claimer: str | None = None,
    ) -> None:
        self._db = database
        self.default_timezone = default_timezone
        self.max_runs_per_job = max_runs_per_job
        self.lease = timedelta(seconds=lease_seconds)
        self.claimer = claimer or default_claimer()
        # The counter of ids is known to be at least this: saving a job with a larger
        # numeric id (copied in, or made elsewhere) moves the counter past it.
        self._counter_floor = 0
        self._sql = JobStatements(
            database.insert,
            claimer=self.claimer,
            lease=self.lease,
            max_runs_per_job=max_runs_per_job,
        )

    @property
    def health(self) -> Health:
        return self._db.health

    async def start(self) -> None:
        await self._db.start()
        counter = (
            self._db.insert(job_ids)
            .values(name=_COUNTER, last_id=0)
            .on_conflict_do_nothing(index_elements=[job_ids.c.name])
        )

        def operation(conn: Connection) -> None:
            conn.execute(counter)

        await self._db.write(operation)
        await self._warm_up()

    async def _warm_up(self) -> None:
        """Runs the claim once on no job, so the first burst of due jobs does not pay for
        compiling its statements (tens of milliseconds)."""
        claim, open_runs = self._sql.claim([""], datetime.now(UTC))

        def operation(conn: Connection) -> None:
            conn.execute(claim)
            conn.execute(open_runs)

        await self._db.write(operation)

    async def stop(self) -> None:
        # The database is shared; its owner (the composition root) stops it.
        return None

    # -- writes ----------------------------------------------------------------------

    async def new_job_id(self) -> str:
        bump = (
            update(job_ids)
            .where(job_ids.c.name == _COUNTER)
            .values(last_id=job_ids.c.last_id + 1)
            .returning(job_ids.c.last_id)
        )

        def operation(conn: Connection) -> int:
            return int(conn.execute(bump).scalar_one())

        number = await self._db.write(operation)
        self._counter_floor = max(self._counter_floor, number)
        return str(number)

    async def save(self, job: Job, runs: Sequence[RunRecord] = ()) -> None:
        await self.save_many([(job, runs)])

    async def save_many(self, items: Sequence[tuple[Job, Sequence[RunRecord]]]) -> None:
        for job, runs in items:
            if any(run.job_id != job.id for run in runs):
                raise ValueError(f"runs saved with job {job.id} must belong to it")
        if not items:
            return
        floor = self._counter_floor
        numbers = [int(job.id) for job, _ in items if job.id.isdigit()]
        past_counter = max((n for n in numbers if n > floor), default=None)

        def operation(conn: Connection) -> None:
            for job, runs in items:
                self._write_job(conn, job, runs)
            if past_counter is not None:
                conn.execute(
                    update(job_ids)
                    .where(job_ids.c.name == _COUNTER, job_ids.c.last_id < past_counter)
                    .values(last_id=past_counter)
                )

        await self._db.write(operation)
        if past_counter is not None:
            self._counter_floor = max(self._counter_floor, past_counter)

    def _write_job(self, conn: Connection, job: Job, runs: Sequence[RunRecord]) -> None:
        running = job.state is JobState.RUNNING
        sql = self._sql
        conn.execute(sql.upsert_running if running else sql.upsert_released, job_row(job))
        fresh = self._new_runs(conn, job.id, runs)
        if not fresh:
            return
        conn.execute(sql.upsert_runs, [run_row(run) for run in fresh])
        if job.recurring:
            # Only the newest occurrences are kept (a one-shot job has one occurrence).
            conn.execute(sql.trim_runs(job.id))

    @staticmethod
    def _new_runs(conn: Connection, job_id: str, runs: Sequence[RunRecord]) -> list[RunRecord]:
        """The runs to write: an outcome once recorded never changes (IllegalTransition,
        which rolls the whole write back); the same outcome again is a no-op."""
        if not runs:
            return []
        query = JobStatements.outcomes(job_id, [run.occurrence for run in runs])
        known = {row.occurrence: row.outcome for row in conn.execute(query)}
        fresh: dict[datetime, RunRecord] = {}
        for run in runs:
            outcome = known.get(run.occurrence)
            if outcome is None:
                fresh[run.occurrence] = run
            elif run.outcome is None or run.outcome.value != outcome:
                raise IllegalTransition(job_id, outcome, run.outcome or "running")
        return list(fresh.values())

    async def start_runs(
        self, job_ids: Sequence[str], now: datetime
    ) -> list[tuple[Job, RunRecord]]:
        if not job_ids:
            return []
        wanted = list(dict.fromkeys(job_ids))
        claim, open_runs = self._sql.claim(wanted, now)

        def operation(conn: Connection) -> list[tuple[Job, RunRecord]]:
            started = [job_from_row(row) for row in conn.execute(claim)]
            if started:
                conn.execute(open_runs)
            return [(job, RunRecord.started(job, now)) for job in started]

        pairs = await self._db.write(operation)
        order = {job_id: n for n, job_id in enumerate(wanted)}
        return sorted(pairs, key=lambda pair: order[pair[0].id])

    async def renew_leases(self, now: datetime) -> int:
        """Extends every claim this store holds to `lease_seconds` from `now`; returns
        how many jobs it holds."""
        renew = self._sql.renew(now)

        def operation(conn: Connection) -> int:
            return int(conn.execute(renew).rowcount)

        return await self._db.write(operation)

    async def release_lapsed(self, now: datetime) -> list[Job]:
        """Moves every running job whose lease ended by `now` (whoever held it) back to
        scheduled for the same occurrence, due at once (`Job.interrupted`), and returns
        them, for a scheduler that never read them (one running since before another
        process claimed them) to schedule."""
        lapsed = self._sql.lapsed(now)

        def operation(conn: Connection) -> list[Job]:
            moved = [job_from_row(row).interrupted(now) for row in conn.execute(lapsed)]
            if moved:
                conn.execute(self._sql.upsert_released, [job_row(job) for job in moved])
            return moved

        return await self._db.write(operation)

    async def advance_job_ids(self, last_id: int) -> None:
        """Makes `new_job_id` hand out only ids past `last_id` (a store copied in had
        given those out)."""
        advance = (
            update(job_ids)
            .where(job_ids.c.name == _COUNTER, job_ids.c.last_id < last_id)
            .values(last_id=last_id)
        )

        def operation(conn: Connection) -> None:
            conn.execute(advance)

        await self._db.write(operation)
        self._counter_floor = max(self._counter_floor, last_id)

    async def set_timezone(self, owner_id: str, tz: str) -> None:
        zone(tz)  # raises ValueError for an unknown zone before anything is written
        insert = self._db.insert(job_timezones).values(owner_id=owner_id, tz=tz)
        upsert = insert.on_conflict_do_update(
            index_elements=[job_timezones.c.owner_id], set_={"tz": tz}
        )

        def operation(conn: Connection) -> None:
            conn.execute(upsert)

        await self._db.write(operation)

    # -- reads -----------------------------------------------------------------------

    async def _jobs(self, query: Any, *, quick: bool = False) -> list[Job]:
        def operation(conn: Connection) -> list[Job]:
            return [job_from_row(row) for row in conn.execute(query)]

        return await self._db.read(operation, quick=quick)

    async def get(self, job_id: str) -> Job | None:
        found = await self._jobs(select(jobs).where(jobs.c.id == job_id), quick=True)
        return found[0] if found else None

    async def job_made_by(self, origin: str) -> Job | None:
        query = select(jobs).where(jobs.c.origin == origin).limit(1)
        found = await self._jobs(query, quick=True)
        return found[0] if found else None

    async def list_jobs(self, owner_id: str, *, include_finished: bool = False) -> list[Job]:
        query = select(jobs).where(jobs.c.owner_id == owner_id)
        if not include_finished:
            query = query.where(jobs.c.state.in_([SCHEDULED, RUNNING]))
        return sorted(await self._jobs(query), key=Job.soonest_first)

    async def active_jobs(self) -> list[Job]:
        return await self._jobs(select(jobs).where(jobs.c.state.in_([SCHEDULED, RUNNING])))

    async def due_jobs(self, until: datetime) -> list[Job]:
        """Scheduled jobs due by `until`, and running ones whose run no live claim covers
        (saved running without a claim, or a claim whose lease ended by `until`): a job
        another process is running is not this caller's to recover."""
        query = select(jobs).where(
            or_(
                and_(jobs.c.state == SCHEDULED, jobs.c.next_run_at <= until),
                and_(
                    jobs.c.state == RUNNING,
                    or_(jobs.c.lease_until.is_(None), jobs.c.lease_until <= until),
                ),
            )
        )
        return await self._jobs(query)

    async def scheduled_times(self) -> list[tuple[datetime, str]]:
        query = union_all(
            select(jobs.c.next_run_at, jobs.c.id).where(
                jobs.c.state == SCHEDULED, jobs.c.next_run_at.is_not(None)
            ),
            select(jobs.c.lease_until, jobs.c.id).where(
                jobs.c.state == RUNNING, jobs.c.lease_until.is_not(None)
            ),
        )

        def operation(conn: Connection) -> list[tuple[datetime, str]]:
            return [(at, job_id) for at, job_id in conn.execute(query)]

        return await self._db.read(operation)

    async def runs(self, job_id: str) -> list[RunRecord]:
        query = select(job_runs).where(job_runs.c.job_id == job_id).order_by(job_runs.c.occurrence)

        def operation(conn: Connection) -> list[RunRecord]:
            return [run_from_row(row) for row in conn.execute(query)]

        return await self._db.read(operation, quick=True)

    async def get_timezone(self, owner_id: str) -> str:
        query = select(job_timezones.c.tz).where(job_timezones.c.owner_id == owner_id)

        def operation(conn: Connection) -> str | None:
            return conn.execute(query).scalar_one_or_none()

        return await self._db.read(operation, quick=True) or self.default_timezone

    # -- the whole store, for `minibot jobs migrate` ------------------------------------

    async def all_jobs(self) -> list[Job]:
        """Every job, finished ones included, in no order."""
        return await self._jobs(select(jobs))

    async def timezones(self) -> dict[str, str]:
        """Each owner's stored time zone (owners on the default are not listed)."""
        query = select(job_timezones.c.owner_id, job_timezones.c.tz)

        def operation(conn: Connection) -> dict[str, str]:
            return {owner_id: tz for owner_id, tz in conn.execute(query)}

        return await self._db.read(operation)

    async def last_job_id(self) -> int:
        """The newest id handed out (0 for none)."""
        query = select(job_ids.c.last_id).where(job_ids.c.name == _COUNTER)

        def operation(conn: Connection) -> int:
            return int(conn.execute(query).scalar_one_or_none() or 0)

        return await self._db.read(operation)

    async def live_claims(self, now: datetime) -> list[str]:
        """Ids of running jobs whose claim's lease has not ended at `now`: a process
        (a daemon) is running them and renewing their leases."""
        query = select(jobs.c.id).where(jobs.c.state == RUNNING, jobs.c.lease_until > now)

        def operation(conn: Connection) -> list[str]:
            return [job_id for (job_id,) in conn.execute(query)]

        return await self._db.read(operation)
