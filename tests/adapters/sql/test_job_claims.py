"""Claims of the SQL job store: several processes share one store, each due job starts
once, and a claim left by a dead process is taken over when its lease ends."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from minibot.adapters.scheduler.asyncio_scheduler import AsyncioScheduler
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.core.jobs import JobState, RunOutcome
from minibot.shared.clock import SystemClock
from tests.adapters.files.builders import T0, reminder
from tests.adapters.scheduler.fire_recorder import FireRecorder
from tests.process import reap
from tests.services import POSTGRES_URL
from tests.sql_schemas import postgres_schema

# Opens `count` SqlDatabases on one store (its URL and schema); yields (url, schema).
Backend = Callable[[], AbstractAsyncContextManager[tuple[str, str]]]


@asynccontextmanager
async def _sqlite(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    yield f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}", ""


@asynccontextmanager
async def _postgres() -> AsyncIterator[tuple[str, str]]:
    async with postgres_schema() as schema:
        yield POSTGRES_URL, schema


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return lambda: _sqlite(tmp_path)
    return _postgres


@asynccontextmanager
async def _stores(
    url: str, schema: str, count: int, **options: float
) -> AsyncIterator[list[SqlJobStore]]:
    """`count` stores on one database, each with its own engine, as separate daemons."""
    databases = [SqlDatabase(url, schema=schema or None) for _ in range(count)]
    stores = [SqlJobStore(db, claimer=f"claimer-{n}", **options) for n, db in enumerate(databases)]
    try:
        for store in stores:  # one after another: each creates any missing table
            await store.start()
        yield stores
    finally:
        for db in databases:
            await db.stop()


async def test_six_claimers_start_each_of_1000_due_jobs_once(backend: Backend) -> None:
    async with backend() as (url, schema), _stores(url, schema, 6) as stores:
        jobs = [reminder(str(n), at=T0) for n in range(1, 1001)]
        await stores[0].save_many([(job, ()) for job in jobs])
        ids = [job.id for job in jobs]
        now = T0 + timedelta(seconds=1)

        async def claim(store: SqlJobStore, seed: int) -> list[str]:
            # Each asks for every due job, in its own order and batches, as a scheduler
            # whose heap holds them all would.
            order = ids[:]
            random.Random(seed).shuffle(order)
            won = []
            for first in range(0, len(order), 100):
                started = await store.start_runs(order[first : first + 100], now)
                won += [job.id for job, _ in started]
            return won

        results = await asyncio.gather(*(claim(s, n) for n, s in enumerate(stores)))

        claimed = Counter(job_id for won in results for job_id in won)
        assert sorted(claimed, key=int) == ids, "every due job was started"
        assert max(claimed.values()) == 1, "no job was started twice"
        assert sum(1 for won in results if won) >= 2, "the claimers shared the work"
        for job_id in random.Random(0).sample(ids, 20):
            job = await stores[0].get(job_id)
            assert job is not None and job.state is JobState.RUNNING and job.attempts == 1
            [run] = await stores[0].runs(job_id)
            assert (run.occurrence, run.outcome, run.attempts) == (T0, None, 1)


async def test_a_claim_is_taken_over_only_once_its_lease_has_ended(backend: Backend) -> None:
    async with backend() as (url, schema), _stores(url, schema, 2, lease_seconds=30) as stores:
        first, second = stores
        await first.save(reminder("1", at=T0))
        assert len(await first.start_runs(["1"], T0)) == 1
        assert await second.start_runs(["1"], T0 + timedelta(seconds=29)) == []
        assert await second.due_jobs(T0 + timedelta(seconds=29)) == [], "a live claim"
        assert (T0 + timedelta(seconds=30), "1") in await second.scheduled_times()

        await first.renew_leases(T0 + timedelta(seconds=20))
        assert await second.start_runs(["1"], T0 + timedelta(seconds=49)) == []

        [(taken, run)] = await second.start_runs(["1"], T0 + timedelta(seconds=50))
        assert (taken.state, taken.attempts, taken.occurrence) == (JobState.RUNNING, 2, T0)
        assert (run.occurrence, run.attempts) == (T0, 2), "the same occurrence, run again"
        assert await first.renew_leases(T0 + timedelta(seconds=51)) == 0, "no longer its"

        done = T0 + timedelta(seconds=52)
        await second.save(taken.succeed(done, None), [run.finish(RunOutcome.DELIVERED, done)])
        assert (T0 + timedelta(seconds=80), "1") not in await second.scheduled_times()
        [ledger] = await first.runs("1")
        assert (ledger.outcome, ledger.attempts) == (RunOutcome.DELIVERED, 2)


@pytest.mark.slow
async def test_jobs_claimed_by_a_killed_process_fire_once_after_the_lease(
    backend: Backend,
) -> None:
    async with backend() as (url, schema), _stores(url, schema, 1, lease_seconds=60) as stores:
        [store] = stores
        now = datetime.now(UTC)
        jobs = [reminder(str(n), at=now - timedelta(seconds=1), now=now) for n in range(1, 21)]
        await store.save_many([(job, ()) for job in jobs])

        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.adapters.sql.job_claimer_child",
            url,
            schema,
            "2",  # a short lease
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            assert child.stdout is not None
            line = await asyncio.wait_for(child.stdout.readline(), 30)
            assert line.decode().strip() == "claimed 20"
        finally:
            child.send_signal(signal.SIGKILL)
            await reap(child)

        clock = SystemClock()
        recorder = FireRecorder(store, clock)
        scheduler = AsyncioScheduler(store, recorder.fire, clock)
        assert await store.due_jobs(clock.now()) == [], "the dead claimer's lease still holds"
        await scheduler.start()
        try:
            await recorder.wait_until(fired=20, completed=20)
        finally:
            await scheduler.stop()

        assert sorted(recorder.fired) == sorted((job.id, job.occurrence) for job in jobs)
        for job in jobs:
            [run] = await store.runs(job.id)
            assert (run.outcome, run.attempts) == (RunOutcome.DELIVERED, 2)
            assert run.started_at is not None
            assert run.started_at >= now + timedelta(seconds=1), "taken over after the lease"


async def test_a_lapsed_claim_is_released_to_any_scheduler_for_the_same_occurrence(
    backend: Backend,
) -> None:
    async with backend() as (url, schema), _stores(url, schema, 2, lease_seconds=30) as stores:
        dead, alive = stores
        await dead.save(reminder("1", at=T0))
        await dead.save(reminder("2", at=T0))
        assert len(await dead.start_runs(["1"], T0)) == 1
        assert len(await alive.start_runs(["2"], T0)) == 1
        await alive.renew_leases(T0 + timedelta(seconds=20))
        assert await alive.release_lapsed(T0 + timedelta(seconds=29)) == []

        at = T0 + timedelta(seconds=31)
        [released] = await alive.release_lapsed(at)
        assert (released.id, released.state) == ("1", JobState.SCHEDULED)
        assert (released.next_run_at, released.occurrence) == (at, T0)
        assert await alive.release_lapsed(at) == [], "released once"
        assert (await alive.get("2")).state is JobState.RUNNING  # type: ignore[union-attr]
        [(again, run)] = await alive.start_runs(["1"], at)
        assert (again.attempts, run.occurrence, run.attempts) == (2, T0, 2)
        assert len(await alive.runs("1")) == 1, "one ledger row for the occurrence"
