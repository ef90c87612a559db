"""`minibot jobs migrate --from X --to Y`: opens both stores as configured, refuses when
a daemon holds either, copies, and says what it did."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Literal

from minibot.adapters.config.schema import Settings
from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.jobs_migration.job_copy import WholeJobStore, copy_jobs
from minibot.adapters.jobs_migration.store_users import refuse_held, refuse_open_sqlite
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.core.errors import MigrationRefused, StoreError
from minibot.shared.clock import SystemClock

StoreKind = Literal["file", "sql"]
# Not minibot's own name: the check for a connected daemon must not count this process.
_APPLICATION_NAME = "minibot-jobs-migrate"


async def migrate_jobs(settings: Settings, source: StoreKind, target: StoreKind) -> str:
    """Copies every job from the `source` store to the `target` store (see `copy_jobs`)
    while holding the file store's lock, so a daemon starting meanwhile fails to open it;
    returns the line to print. The source is left as it was."""
    if source == target:
        raise MigrationRefused(f"--from and --to both name the {source} store", store=source)
    store_path = Path(settings.scheduler.store_path)
    if source == "file" and not await asyncio.to_thread(store_path.is_dir):
        raise MigrationRefused(
            f"there is no file job store at {settings.scheduler.store_path} "
            "([scheduler] store_path)",
            store="file",
        )
    async with AsyncExitStack() as stack:
        # The file store is opened first: its lock is the check that no daemon runs on it.
        file_store = await stack.enter_async_context(_file_store(settings))
        sql_store = await stack.enter_async_context(_sql_store(settings))
        stores: dict[StoreKind, WholeJobStore] = {"file": file_store, "sql": sql_store}
        copied = await copy_jobs(stores[source], stores[target], store=target)
    kept = f" ({copied.unchanged} already there)" if copied.unchanged else ""
    return (
        f"copied {copied.jobs} job(s){kept}, {copied.timezones} time zone(s) and the id "
        f"counter ({copied.last_id}) from the {source} job store to the {target} one; "
        f'set [scheduler] store = "{target}" to use it (the {source} store is left as it was)'
    )


@asynccontextmanager
async def _file_store(settings: Settings) -> AsyncIterator[FileJobStore]:
    sch = settings.scheduler
    store = FileJobStore(
        sch.store_path,
        default_timezone=sch.timezone,
        compact_after_records=sch.compact_after_records,
        lock_timeout_seconds=0,
    )
    try:
        await store.start()
    except StoreError as exc:
        raise MigrationRefused(f"{exc}; stop it first", store="file") from exc
    try:
        yield store
    finally:
        await store.stop()


@asynccontextmanager
async def _sql_store(settings: Settings) -> AsyncIterator[SqlJobStore]:
    sch = settings.scheduler
    url = sch.url or settings.memory.url
    refuse_open_sqlite(url)
    database = SqlDatabase(
        url, auto_migrate=settings.memory.auto_migrate, application_name=_APPLICATION_NAME
    )
    store = SqlJobStore(database, default_timezone=sch.timezone, lease_seconds=sch.lease_seconds)
    try:
        await store.start()
        await refuse_held(database, store, SystemClock().now())
        yield store
    finally:
        await store.stop()
        await database.stop()
