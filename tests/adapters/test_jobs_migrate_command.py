"""`minibot jobs migrate` through the real command line, on SQLite and PostgreSQL, and
its refusals while a daemon holds a store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.shared.clock import SystemClock
from tests.adapters.files.builders import reminder
from tests.adapters.jobs_migration.contents import Contents, contents, fill
from tests.process import run_minibot, write_config
from tests.sql_schemas import postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
async def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}"
        return
    # A database per test: the config names a database, and the check for a connected
    # daemon looks at the whole database.
    async with postgres_database() as url:
        yield url


def _config(tmp_path: Path, sql_url: str, store_path: str = "tasks") -> str:
    extra = f'url = "{sql_url}"\n'
    path = write_config(tmp_path, "http://127.0.0.1:9/v1", extra)
    path.write_text(path.read_text().replace(f"{tmp_path}/tasks", f"{tmp_path}/{store_path}"))
    return str(path)


async def _file_contents(path: Path) -> Contents:
    store = FileJobStore(path)
    await store.start()
    try:
        return await contents(store)
    finally:
        await store.stop()


async def _sql_contents(url: str) -> Contents:
    database = SqlDatabase(url)
    try:
        store = SqlJobStore(database)
        await store.start()
        return await contents(store)
    finally:
        await database.stop()


async def _migrate(config: str, source: str, target: str) -> tuple[int, str, str]:
    done = await run_minibot(
        "jobs", "migrate", "--from", source, "--to", target, "--config", config
    )
    return done.returncode, done.stdout, done.stderr


async def test_file_to_sql_and_back_loses_nothing_and_twice_is_a_no_op(
    tmp_path: Path, sql_url: str
) -> None:
    store = FileJobStore(tmp_path / "tasks")
    await store.start()
    await fill(store)
    original = await contents(store)
    await store.stop()
    config = _config(tmp_path, sql_url)

    code, out, err = await _migrate(config, "file", "sql")
    assert code == 0, err
    assert "copied 4 job(s)" in out and "2 time zone(s)" in out and "(40)" in out
    assert await _sql_contents(sql_url) == original

    code, out, err = await _migrate(config, "file", "sql")
    assert code == 0, err
    assert "copied 0 job(s) (4 already there), 0 time zone(s)" in out
    assert await _sql_contents(sql_url) == original

    back = _config(tmp_path, sql_url, store_path="back")
    for _ in range(2):
        code, out, err = await _migrate(back, "sql", "file")
        assert code == 0, err
    assert "copied 0 job(s) (4 already there)" in out
    assert await _file_contents(tmp_path / "back") == original
    assert sql_url.split("@")[-1] not in out + err, "no URL (it may hold a password) is printed"


async def test_a_migration_is_refused_while_a_daemon_holds_the_file_store(
    tmp_path: Path, sql_url: str
) -> None:
    config = _config(tmp_path, sql_url)
    daemon = FileJobStore(tmp_path / "tasks")
    await daemon.start()
    try:
        await daemon.save(reminder("1"))
        for source, target in (("file", "sql"), ("sql", "file")):
            code, _, err = await _migrate(config, source, target)
            assert code == 1
            assert "jobs migrate refused" in err and "locked by another process" in err
    finally:
        await daemon.stop()
    assert (await _sql_contents(sql_url)).jobs == {}, "nothing was copied"


async def test_a_migration_is_refused_while_a_job_is_claimed_under_a_live_lease(
    tmp_path: Path, sql_url: str
) -> None:
    config = _config(tmp_path, sql_url)
    database = SqlDatabase(sql_url)
    store = SqlJobStore(database, lease_seconds=3600)
    try:
        await store.start()
        now = SystemClock().now()
        await store.save(reminder("6", at=now - timedelta(minutes=1), now=now - timedelta(hours=1)))
        assert [job.id for job, _ in await store.start_runs(["6"], now)] == ["6"]
    finally:
        await database.stop()  # the daemon's process went away mid-run; its lease lives on
    code, _, err = await _migrate(config, "sql", "file")
    assert code == 1
    assert "job(s) 6 are claimed under a live lease" in err
    assert (
        not list((tmp_path / "tasks").glob("*.jsonl"))
        or (await _file_contents(tmp_path / "tasks")).jobs == {}
    )


async def test_a_migration_is_refused_while_a_daemon_has_the_sql_database_open(
    tmp_path: Path, sql_url: str
) -> None:
    config = _config(tmp_path, sql_url)
    daemon = SqlDatabase(sql_url)  # connected as minibot, as a daemon is
    await SqlJobStore(daemon).start()
    try:
        code, _, err = await _migrate(config, "sql", "file")
    finally:
        await daemon.stop()
    assert code == 1
    assert "a minibot is running" in err or "a minibot is connected" in err
    code, _, err = await _migrate(config, "sql", "file")
    assert code == 0, err
