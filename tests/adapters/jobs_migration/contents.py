"""A job store filled with one of each kind of job, and everything a store holds, read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from minibot.adapters.jobs_migration.job_copy import WholeJobStore
from minibot.core.jobs import Job, RunOutcome, RunRecord
from minibot.core.schedule import Cron, Interval
from tests.adapters.files.builders import T0, reminder

HOUR = timedelta(hours=1)


async def fill(store: Any) -> None:
    """A scheduled one-shot, a recurring job with finished runs, a finished job made by a
    turn (its origin key), an interrupted running one, two owners' zones, and an id
    counter past the largest id (an id handed out whose job was never saved)."""
    once = reminder("1", owner_id="telegram:1", text="water the plants")
    cron = reminder("2", owner_id="telegram:1", schedule=Cron("0 9 * * *", "Europe/Berlin"))
    first = cron.start(T0)
    run = RunRecord.started(first, T0).finish(RunOutcome.DELIVERED, T0 + timedelta(seconds=3))
    cron = first.succeed(T0 + timedelta(seconds=3), T0 + 24 * HOUR)
    made = reminder("3", owner_id="telegram:2", text="call mum")
    made = Job.new(
        id=made.id,
        owner_id=made.owner_id,
        target=made.target,
        action=made.action,
        schedule=made.schedule,
        now=T0,
        origin="telegram:42#in7/create_job#0",
    )
    made_run = RunRecord.started(made.start(T0 + HOUR), T0 + HOUR)
    done = made.start(T0 + HOUR).succeed(T0 + HOUR, None)
    made_run = made_run.finish(RunOutcome.DELIVERED, T0 + HOUR)
    every = reminder("7", owner_id="telegram:2", schedule=Interval(600, T0, "Asia/Tokyo"))
    running = every.start(T0 + timedelta(minutes=10))
    await store.save_many(
        [
            (once, []),
            (cron, [run]),
            (done, [made_run]),
            (running, [RunRecord.started(running, T0 + timedelta(minutes=10))]),
        ]
    )
    await store.set_timezone("telegram:1", "Europe/Berlin")
    await store.set_timezone("telegram:2", "Asia/Tokyo")
    await store.advance_job_ids(40)


@dataclass(frozen=True)
class Contents:
    jobs: dict[str, Job]
    runs: dict[str, list[RunRecord]]
    timezones: dict[str, str]
    last_id: int


async def contents(store: WholeJobStore) -> Contents:
    jobs = {job.id: job for job in await store.all_jobs()}
    runs = {job_id: await store.runs(job_id) for job_id in jobs}
    return Contents(jobs, runs, await store.timezones(), await store.last_job_id())
