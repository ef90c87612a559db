"""`minibot jobs upcoming`: reads a copy of the task store, never locking or writing it."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from minibot.adapters.config.schema import SchedulerSettings
from minibot.adapters.tasks.storage.replay import replay
from minibot.app.tasks.upcoming import parse_until, render, upcoming
from minibot.core.errors import StoreError
from minibot.core.jobs import Job
from minibot.shared.clock import SystemClock

_COPY_ATTEMPTS = 5


def read_store(directory: Path) -> tuple[list[Job], dict[str, str]]:
    """The jobs and time zones in `directory`, read from a private copy.

    A running daemon holds the store's lock for its whole life, and replaying in place
    may cut a torn tail or delete old logs, so this copies the files and replays the
    copy. A compaction between listing and copying changes the listing, and the copy is
    taken again; a record being appended during the copy is a torn tail in the copy,
    skipped like an unacknowledged write.
    """
    if not directory.is_dir():
        return [], {}
    with tempfile.TemporaryDirectory(prefix="minibot-jobs-") as scratch:
        for _ in range(_COPY_ATTEMPTS):
            before = _listing(directory)
            try:
                for name in before:
                    shutil.copyfile(directory / name, Path(scratch) / name)
            except FileNotFoundError:
                continue
            if _listing(directory) == before:
                break
            for copied in Path(scratch).iterdir():
                copied.unlink()
            time.sleep(0.05)
        else:
            raise StoreError(f"task store {directory} kept changing while being read; try again")
        state = replay(Path(scratch), max_runs_per_job=1).state
    return list(state.jobs.values()), dict(state.timezones)


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


def jobs_upcoming(settings: SchedulerSettings, user: str | None, until_text: str) -> str:
    now = SystemClock().now()
    until = parse_until(until_text, now)
    jobs, timezones = read_store(Path(settings.store_path))
    if user is not None:
        jobs = [job for job in jobs if job.owner_id == user]
    items = upcoming(jobs, now, until)
    if not items:
        who = f" for {user}" if user else ""
        return f"No job is due{who} before {until:%Y-%m-%d %H:%M} UTC."
    return render(items, timezones, settings.timezone)
