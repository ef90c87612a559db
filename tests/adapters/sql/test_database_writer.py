"""The SQLite writer: supervised by the daemon, never leaving a write waiting when it is
gone, and the database degraded while it cannot be written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from minibot.adapters.container import _Named
from minibot.adapters.sql.database import SqlDatabase
from minibot.app.daemon import Daemon, Looping, Reporting, ServiceSpec
from minibot.core.errors import StoreUnavailable
from minibot.core.health import HealthState

# Far more than a write takes; a write that hangs on a dead writer would never finish.
BOUND = 5.0


class _Die(BaseException):
    """Nothing in the writer catches it: the writer task ends with it."""


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqlDatabase]:
    db = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'minibot.db'}")
    await db.start()
    try:
        yield db
    finally:
        await db.stop()


def insert(value: str) -> object:
    def operation(conn: Connection) -> None:
        conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})

    return operation


async def make_table(db: SqlDatabase) -> None:
    await db.write(lambda conn: conn.execute(text("CREATE TABLE t (v TEXT)")))


async def count(db: SqlDatabase) -> int:
    return int(await db.read(lambda conn: conn.execute(text("SELECT count(*) FROM t")).scalar()))


async def kill_writer(db: SqlDatabase) -> None:
    writer = db._writer_task
    assert writer is not None
    writer.cancel()
    await asyncio.wait({writer}, timeout=BOUND)
    assert writer.done()


async def test_a_write_after_the_writer_died_fails_fast(database: SqlDatabase) -> None:
    await make_table(database)
    await kill_writer(database)

    with pytest.raises(StoreUnavailable, match="the database writer stopped: cancelled"):
        await asyncio.wait_for(database.write(insert("late")), BOUND)
    health = database.health
    assert health.state is HealthState.DEGRADED
    assert "the database writer stopped" in (health.reason or "")


async def test_writes_queued_when_the_writer_dies_fail_instead_of_waiting(
    database: SqlDatabase,
) -> None:
    await make_table(database)
    await asyncio.sleep(0.01)  # a fresh loop iteration
    # The first write of a loop iteration commits at once; the others queue for the writer.
    first = database.submit(insert("a"))
    queued = [database.submit(insert("b")), database.submit(insert("c"))]
    await kill_writer(database)

    await asyncio.wait_for(first, BOUND)
    for future in queued:
        with pytest.raises(StoreUnavailable, match="writer stopped"):
            await asyncio.wait_for(future, BOUND)
    assert await count(database) == 1


async def test_the_batch_in_hand_fails_when_the_writer_dies_with_it(
    database: SqlDatabase,
) -> None:
    await make_table(database)

    def dies(conn: Connection) -> None:
        raise _Die("boom")

    await asyncio.sleep(0.01)  # a fresh loop iteration: the first write commits at once
    first = database.submit(insert("a"))
    batch = [database.submit(dies), database.submit(insert("b"))]
    for future in batch:
        with pytest.raises(StoreUnavailable, match="writer stopped"):
            await asyncio.wait_for(future, BOUND)
    await asyncio.wait_for(first, BOUND)
    with pytest.raises(StoreUnavailable, match=r"writer stopped: _Die\('boom'\)"):
        await asyncio.wait_for(database.write(insert("c")), BOUND)
    assert await count(database) == 1  # the dying batch rolled back


async def test_run_raises_when_the_writer_dies_and_a_new_run_brings_it_back(
    database: SqlDatabase,
) -> None:
    await make_table(database)
    watching = asyncio.create_task(database.run())
    await asyncio.sleep(0)
    assert not watching.done()
    await kill_writer(database)
    with pytest.raises(StoreUnavailable, match="writer stopped"):
        await asyncio.wait_for(watching, BOUND)

    again = asyncio.create_task(database.run())
    await asyncio.sleep(0)
    await asyncio.wait_for(database.write(insert("back")), BOUND)
    assert await count(database) == 1
    assert database.health.state is HealthState.READY
    await database.stop()
    await asyncio.wait_for(again, BOUND)  # returns on stop, without an error


async def test_cancelling_run_leaves_the_writer_running(database: SqlDatabase) -> None:
    await make_table(database)
    watching = asyncio.create_task(database.run())
    await asyncio.sleep(0)
    watching.cancel()
    await asyncio.wait({watching}, timeout=BOUND)
    await asyncio.wait_for(database.write(insert("still")), BOUND)
    assert await count(database) == 1


async def test_the_daemon_supervises_the_writer_and_stops_when_it_dies(tmp_path: Path) -> None:
    db = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'minibot.db'}")
    named = _Named("database", db)
    assert isinstance(named, Looping)
    assert isinstance(named, Reporting)
    assert not isinstance(_Named("llm", object()), Looping)
    daemon = Daemon(
        [ServiceSpec(named, critical=True)],
        shutdown_timeout_seconds=2,
        restart_initial_delay_seconds=0.01,
    )
    running = asyncio.create_task(daemon.run())
    for _ in range(500):
        if db._writer_task is not None and daemon.health.state is HealthState.READY:
            break
        await asyncio.sleep(0.01)
    await kill_writer(db)
    assert await asyncio.wait_for(running, BOUND * 2) == 1


async def test_a_full_database_degrades_it_until_a_commit_succeeds(
    database: SqlDatabase,
) -> None:
    await make_table(database)
    pages = await database.write(lambda conn: conn.exec_driver_sql("PRAGMA page_count").scalar())
    # SQLite answers SQLITE_FULL ("database or disk is full") past max_page_count, as it
    # does on a full disk.
    await database.write(lambda conn: conn.exec_driver_sql(f"PRAGMA max_page_count={pages}"))
    with pytest.raises(Exception) as raised:
        for _ in range(200):
            await database.write(insert("x" * 4000))
    assert "full" in str(raised.value)
    health = database.health
    assert health.state is HealthState.DEGRADED
    assert health.reason == "the database cannot be written: database or disk is full"
    assert "INSERT" not in health.reason  # the statement (and its data) stay out of it

    await database.write(lambda conn: conn.exec_driver_sql("PRAGMA max_page_count=1000000"))
    await database.write(insert("fits"))
    assert database.health.state is HealthState.READY
