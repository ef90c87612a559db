"""`minibot jobs upcoming`: reads the job store (a copy of a file store), never writing it."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from minibot.adapters.config.schema import SchedulerSettings
from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.app.jobs.upcoming import parse_until, render, upcoming
from minibot.core.errors import StoreError
from minibot.core.jobs import Job
from minibot.shared.clock import SystemClock

_COPY_ATTEMPTS = 5


async def read_store(directory: Path) -> tuple[list[Job], dict[str, str]]:
    """The active jobs in `directory` and their owners' zones, read from a private copy.

    A running daemon holds the store's lock for its whole life, and opening a store may
    cut a torn tail or delete old logs, so this copies the files and opens the copy. A
    compaction between listing and copying changes the listing, and the copy is taken
    again; a record being appended during the copy is a torn tail in the copy, skipped
    like an unacknowledged write.
    """
    with tempfile.TemporaryDirectory(prefix="minibot-jobs-") as scratch:
        if not await asyncio.to_thread(_copy, directory, Path(scratch)):
            return [], {}
        # The copy is thrown away, so its writes (none) need no fsync.
        store = FileJobStore(scratch, lock_timeout_seconds=0, fsync=lambda fd: None)
        await store.start()
        try:
            jobs = await store.active_jobs()
            zones = {job.owner_id: await store.get_timezone(job.owner_id) for job in jobs}
        finally:
            await store.stop()
    return jobs, zones


def _copy(directory: Path, scratch: Path) -> bool:
    """Copy the store's files into `scratch`; False when there is no store yet."""
    if not directory.is_dir():
        return False
    for _ in range(_COPY_ATTEMPTS):
        before = _listing(directory)
        try:
            for name in before:
                shutil.copyfile(directory / name, scratch / name)
        except FileNotFoundError:
            pass
        else:
            if _listing(directory) == before:
                return True
        for copied in scratch.iterdir():
            copied.unlink()
        time.sleep(0.05)
    raise StoreError(f"job store {directory} kept changing while being read; try again")


def _listing(directory: Path) -> dict[str, tuple[int, int]]:
    listing = {}
    for path in directory.iterdir():
        if path.name.endswith(".jsonl"):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            listing[path.name] = (stat.st_ino, stat.st_mtime_ns if "snapshot" in path.name else 0)
    return listing


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
