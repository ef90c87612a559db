"""JobLeaseKeeper: this process's claims are renewed while it runs, and only its own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.job_leases import JobLeaseKeeper
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.core.jobs import Job, JobState
from tests.adapters.files.builders import reminder


async def test_a_running_claim_outlives_its_lease_while_its_process_renews_it(
    tmp_path: Path,
) -> None:
    database = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    ours = SqlJobStore(database, lease_seconds=0.3, claimer="ours")
    theirs = SqlJobStore(database, lease_seconds=0.3, claimer="theirs")
    await ours.start()
    keeper = JobLeaseKeeper(ours, lambda: datetime.now(UTC))
    try:
        now = datetime.now(UTC)
        await ours.save_many(
            [(reminder("1", at=now, now=now), ()), (reminder("2", at=now, now=now), ())]
        )
        assert len(await ours.start_runs(["1"], now)) == 1
        assert len(await theirs.start_runs(["2"], now)) == 1
        await keeper.start()
        loop = asyncio.create_task(keeper.run())
        later = now + timedelta(seconds=1)  # past three leases of the first claim

        async def lease_end() -> datetime:
            return dict((i, at) for at, i in await ours.scheduled_times())["1"]

        async with asyncio.timeout(20):
            while await lease_end() <= later:  # noqa: ASYNC110 (polls the database)
                await asyncio.sleep(0.05)
        assert await theirs.start_runs(["1"], later) == [], "our claim was renewed"
        assert [job.id for job, _ in await ours.start_runs(["2"], later)] == ["2"]
        await keeper.stop()
        await asyncio.wait_for(loop, 5)
    finally:
        await database.stop()


async def test_a_claim_whose_lease_lapsed_is_handed_back_to_the_scheduler(
    tmp_path: Path,
) -> None:
    database = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    dead = SqlJobStore(database, lease_seconds=0.3, claimer="dead")
    alive = SqlJobStore(database, lease_seconds=0.3, claimer="alive")
    await alive.start()
    scheduled: asyncio.Queue[Job] = asyncio.Queue()
    keeper = JobLeaseKeeper(alive, lambda: datetime.now(UTC), scheduled.put_nowait)
    try:
        now = datetime.now(UTC)
        await alive.save(reminder("1", at=now, now=now))
        assert len(await dead.start_runs(["1"], now)) == 1
        await keeper.start()
        loop = asyncio.create_task(keeper.run())
        job = await asyncio.wait_for(scheduled.get(), 20)
        assert (job.id, job.state, job.occurrence) == ("1", JobState.SCHEDULED, now)
        await keeper.stop()
        await asyncio.wait_for(loop, 5)
    finally:
        await database.stop()
