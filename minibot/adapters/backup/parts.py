"""What a backup holds (databases, the file job store) and where each part lives in the
configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import make_url

from minibot.adapters.config.schema import Settings
from minibot.core.errors import BackupRefused

PartKind = Literal["sqlite", "job-store"]


@dataclass(frozen=True, slots=True)
class Part:
    """`name` is the part's name in the backup (`memory.db`, `notes.db`, `jobs/` for the
    file job store, `jobs.db` for a SQL job store in its own SQLite file);
    `location` the database file or store directory it is copied from and restored to."""

    name: str
    kind: PartKind
    location: Path
    config_key: str


def parts_of(settings: Settings) -> list[Part]:
    """The parts of a backup of this configuration; refuses a database it cannot copy."""
    memory = Part("memory", "sqlite", sqlite_file(settings.memory.url, "memory.url"), "memory.url")
    parts = [memory]
    kv_url = settings.kv_memory.url
    if kv_url:
        notes = sqlite_file(kv_url, "kv_memory.url")
        if notes.resolve() != memory.location.resolve():
            parts.append(Part("notes", "sqlite", notes, "kv_memory.url"))
    sch = settings.scheduler
    if sch.store == "file":
        parts.append(Part("jobs", "job-store", Path(sch.store_path), "scheduler.store_path"))
    elif sch.url:
        # A SQL job store on the memory or notes database is inside that part already.
        jobs = sqlite_file(sch.url, "scheduler.url")
        if jobs.resolve() not in {part.location.resolve() for part in parts}:
            parts.append(Part("jobs", "sqlite", jobs, "scheduler.url"))
    return parts


def sqlite_file(url: str, key: str) -> Path:
    """The database file of a SQLite URL. A server database is refused: its own tools
    (pg_dump) take a consistent copy of it, and a second, weaker way would only mislead.
    The message never quotes the URL, which may hold a password."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend != "sqlite":
        raise BackupRefused(
            f"{key} is a {backend} database: minibot backup copies SQLite files only; "
            f"back it up with the server's tools (PostgreSQL: pg_dump -Fc, pg_restore)"
        )
    database = parsed.database or ""
    if database in ("", ":memory:") or parsed.query.get("mode") == "memory":
        raise BackupRefused(f"{key} is an in-memory database: there is nothing to back up")
    return Path(database)
