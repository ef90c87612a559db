"""copy_jobs between the file store and the SQL store (SQLite, PostgreSQL), directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.jobs_migration.job_copy import copy_jobs
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.core.errors import MigrationRefused
from tests.adapters.files.builders import T0
from tests.adapters.jobs_migration.contents import contents, fill
from tests.services import POSTGRES_URL
from tests.sql_schemas import postgres_schema


@pytest.fixture(params=["sqlite", "postgres"])
async def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlJobStore]:
    if request.param == "sqlite":
        async with _sql(SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")) as store:
            yield store
        return
    async with postgres_schema() as schema, _sql(SqlDatabase(POSTGRES_URL, schema=schema)) as s:
        yield s


@asynccontextmanager
async def _sql(database: SqlDatabase) -> AsyncIterator[SqlJobStore]:
    store = SqlJobStore(database)
    try:
        await store.start()
        yield store
    finally:
        await database.stop()


@asynccontextmanager
async def _file(path: Path) -> AsyncIterator[FileJobStore]:
    store = FileJobStore(path)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


async def test_file_to_sql_to_file_loses_nothing_and_copying_again_changes_nothing(
    tmp_path: Path, sql_store: SqlJobStore
) -> None:
    async with _file(tmp_path / "tasks") as source:
        await fill(source)
        original = await contents(source)
        assert len(original.jobs) == 4 and original.last_id == 40

        copied = await copy_jobs(source, sql_store, store="sql")
        assert (copied.jobs, copied.unchanged, copied.timezones) == (4, 0, 2)
        assert await contents(sql_store) == original, "every job field, run and zone, the counter"

        again = await copy_jobs(source, sql_store, store="sql")
        assert (again.jobs, again.unchanged, again.timezones) == (0, 4, 0)
        assert await contents(sql_store) == original

    async with _file(tmp_path / "back") as back:
        await copy_jobs(sql_store, back, store="file")
        assert await contents(back) == original
        records = (tmp_path / "back" / "log-000000.jsonl").read_bytes()
        await copy_jobs(sql_store, back, store="file")
        assert (tmp_path / "back" / "log-000000.jsonl").read_bytes() == records, (
            "a second copy writes nothing"
        )
    async with _file(tmp_path / "back") as reopened:
        assert await contents(reopened) == original, "the copy is durable, counter included"
        assert await reopened.new_job_id() == "41"
    assert await sql_store.new_job_id() == "41", "new ids never collide with copied ones"
    assert (await sql_store.job_made_by("telegram:42#in7/create_job#0")) == original.jobs["3"]


async def test_copying_back_takes_the_newer_jobs_and_refuses_to_roll_one_back(
    tmp_path: Path, sql_store: SqlJobStore
) -> None:
    async with _file(tmp_path / "tasks") as file_store:
        await fill(file_store)
        await copy_jobs(file_store, sql_store, store="sql")
        # The daemon ran on SQL for a while: job 1 was cancelled there.
        original = await sql_store.get("1")
        assert original is not None
        cancelled = original.cancel(T0 + timedelta(hours=2))
        await sql_store.save(cancelled)
        copied = await copy_jobs(sql_store, file_store, store="file")
        assert (copied.jobs, copied.unchanged) == (1, 3)
        assert await file_store.get("1") == cancelled

        # The file store moved on meanwhile (job 1 cancelled later there): copying the
        # SQL store's older version would roll it back.
        later = original.cancel(T0 + timedelta(hours=4))
        await file_store.save(later)
        before = await contents(file_store)
        with pytest.raises(MigrationRefused, match=r"job\(s\) 1"):
            await copy_jobs(sql_store, file_store, store="file")
        assert await contents(file_store) == before, "nothing was written"
