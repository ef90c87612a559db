"""`minibot jobs upcoming`: reads the job store (a copy of a file store), never writing it."""

from __future__ import annotations

from pathlib import Path

from minibot.adapters.config.schema import SchedulerSettings
from minibot.adapters.files.store_copy import opened_copy
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.app.jobs.upcoming import parse_until, render, upcoming
from minibot.core.jobs import Job
from minibot.shared.clock import SystemClock


async def read_store(directory: Path) -> tuple[list[Job], dict[str, str]]:
    """The active jobs in `directory` and their owners' zones, read from a private copy."""
    async with opened_copy(directory) as store:
        if store is None:
            return [], {}
        jobs = await store.active_jobs()
        zones = {job.owner_id: await store.get_timezone(job.owner_id) for job in jobs}
    return jobs, zones


async def read_sql_store(url: str) -> tuple[list[Job], dict[str, str]]:
    """The active jobs of the SQL job store at `url` and their owners' zones (a SQL store
    is read beside a running daemon, no copy needed)."""
    database = SqlDatabase(url)
    store = SqlJobStore(database)
    try:
        await database.start()  # the store's own start prepares writes, not needed here
        jobs = await store.active_jobs()
        zones = {job.owner_id: await store.get_timezone(job.owner_id) for job in jobs}
    finally:
        await database.stop()
    return jobs, zones


async def jobs_upcoming(
    settings: SchedulerSettings, user: str | None, until_text: str, memory_url: str = ""
) -> str:
    now = SystemClock().now()
    until = parse_until(until_text, now)
    if settings.store == "sql":
        jobs, timezones = await read_sql_store(settings.url or memory_url)
    else:
        jobs, timezones = await read_store(Path(settings.store_path))
    if user is not None:
        jobs = [job for job in jobs if job.owner_id == user]
    items = upcoming(jobs, now, until)
    if not items:
        who = f" for {user}" if user else ""
        return f"No job is due{who} before {until:%Y-%m-%d %H:%M} UTC."
    return render(items, timezones, settings.timezone)
