"""SqlDatabase: start-up, lifecycle, and SQLite writes under heavy concurrency."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from minibot.adapters.sql.conversation_memory import SqlConversationMemory
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.inbox import SqlInbox
from minibot.core.conversation import ChatMessage, ConversationKey, Role
from minibot.core.errors import StoreError


async def scalar(database: SqlDatabase, sql: str) -> object:
    def operation(conn: Connection) -> object:
        return (conn.execute(text(sql))).scalar()

    return await database.read(operation)


async def test_start_creates_the_directory_and_tables_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "minibot.db"
    database = SqlDatabase(f"sqlite+aiosqlite:///{path}")
    await database.start()
    try:
        assert path.exists()
        assert await scalar(database, "PRAGMA journal_mode") == "wal"
        assert await scalar(database, "PRAGMA synchronous") == 1  # NORMAL
        assert database.full_text_search
        assert await scalar(database, "SELECT count(*) FROM minibot_messages") == 0
    finally:
        await database.stop()


async def test_data_survives_a_restart(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'minibot.db'}"
    chat = ConversationKey("console", "me")
    first = SqlDatabase(url)
    await first.start()
    await SqlConversationMemory(first).append(chat, [ChatMessage(Role.USER, "remember me")])
    await first.stop()

    second = SqlDatabase(url)
    await second.start()
    try:
        window = await SqlConversationMemory(second).recent(chat, max_messages=5, max_tokens=999)
        assert [m.content for m in window] == ["remember me"]
    finally:
        await second.stop()


async def test_stop_is_safe_twice_and_before_start(tmp_path: Path) -> None:
    database = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    await database.stop()
    await database.start()
    await database.stop()
    await database.stop()

    with pytest.raises(StoreError):
        await database.read(lambda conn: conn.execute(text("SELECT 1")))


async def test_a_failed_start_raises_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    database = SqlDatabase(f"sqlite+aiosqlite:///{blocker / 'minibot.db'}")

    with pytest.raises((StoreError, OSError)):
        await database.start()
    await database.stop()


async def test_an_in_memory_database_works_for_tests() -> None:
    database = SqlDatabase("sqlite+aiosqlite://")
    await database.start()
    try:
        inbox = SqlInbox(database)
        assert await inbox.add("console", "1", "console:me", "p") is not None
        assert len(await inbox.pending("console")) == 1
    finally:
        await database.stop()


async def test_fifty_concurrent_chats_never_hit_database_is_locked(tmp_path: Path) -> None:
    database = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}")
    await database.start()
    memory, inbox = SqlConversationMemory(database), SqlInbox(database)

    async def chat(n: int) -> None:
        key = ConversationKey("telegram", str(n))
        for turn in range(20):
            await inbox.add("telegram", f"{n}-{turn}", str(key), "payload")
            await memory.recent(key, max_messages=30, max_tokens=6000)
            await memory.append(
                key, [ChatMessage(Role.USER, f"q{turn}"), ChatMessage(Role.ASSISTANT, "a")]
            )

    try:
        await asyncio.wait_for(asyncio.gather(*(chat(n) for n in range(50))), timeout=45)
        assert await scalar(database, "SELECT count(*) FROM minibot_messages") == 50 * 20 * 2
        assert len(await inbox.pending("telegram")) == 50 * 20
    finally:
        await database.stop()


async def test_a_failing_write_does_not_fail_the_writes_committed_with_it(
    sqlite_database: SqlDatabase,
) -> None:
    inbox = SqlInbox(sqlite_database)

    def broken(conn: Connection) -> None:
        conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    results = await asyncio.gather(
        *(inbox.add("t", str(n), "t:1", "p") for n in range(10)),
        sqlite_database.write(broken),
        *(inbox.add("t", str(n), "t:1", "p") for n in range(10, 20)),
        return_exceptions=True,
    )

    assert isinstance(results[10], StoreError)
    assert len(await inbox.pending("t")) == 20


async def test_a_write_completes_even_when_its_caller_is_cancelled(
    sqlite_database: SqlDatabase,
) -> None:
    inbox = SqlInbox(sqlite_database)

    def flushed(conn: Connection) -> None:
        return None

    # A write in the same loop iteration commits first, so the add has to queue.
    first = asyncio.create_task(sqlite_database.write(flushed))
    task = asyncio.create_task(inbox.add("t", "cancelled", "t:1", "p"))
    await asyncio.sleep(0)
    assert first.done() and not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await sqlite_database.write(flushed)  # queued after the cancelled write
    assert [item.external_id for item in await inbox.pending("t")] == ["cancelled"]


async def test_adapters_starting_together_all_find_the_tables(tmp_path: Path) -> None:
    database = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}")
    memory, inbox = SqlConversationMemory(database), SqlInbox(database)
    try:
        await asyncio.gather(memory.start(), inbox.start())
        await asyncio.gather(
            memory.append(ConversationKey("t", "1"), [ChatMessage(Role.USER, "hi")]),
            inbox.add("t", "1", "t:1", "p"),
        )
    finally:
        await database.stop()


async def test_sync_makes_the_committed_log_durable(
    sqlite_database: SqlDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = SqlInbox(sqlite_database, sync_to_disk=True)
    real_fsync = os.fsync
    synced: list[str] = []

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    assert await inbox.add("t", "1", "t:1", "p") is not None
    assert synced == [], "a commit alone does not sync (WAL, synchronous=NORMAL)"

    await SqlInbox(sqlite_database).sync()
    assert synced == [], "off unless memory.sync_before_confirm"
    await inbox.sync()

    assert len(synced) == 1 and synced[0].endswith(".db-wal")


async def test_a_later_write_joins_the_next_commit_or_is_committed_soon_on_its_own(
    sqlite_database: SqlDatabase,
) -> None:
    committed: list[str] = []

    def mark(name: str) -> Callable[[Connection], str]:
        def operation(conn: Connection) -> str:
            committed.append(name)
            return name

        return operation

    before = sqlite_database._commits
    later = asyncio.ensure_future(sqlite_database.write(mark("usage"), later=True))
    await asyncio.sleep(0)
    assert not later.done(), "it waits for company"
    assert await sqlite_database.write(mark("reply")) == "reply"
    assert await later == "usage"
    assert committed == ["usage", "reply"]
    assert sqlite_database._commits == before + 1, "one transaction for both"

    alone = await asyncio.wait_for(sqlite_database.write(mark("alone"), later=True), 1.0)
    assert alone == "alone", "committed on its own when nothing else comes"


async def test_the_log_does_not_grow_without_bound_under_steady_writes(tmp_path: Path) -> None:
    path = tmp_path / "minibot.db"
    # Small, so that the test needs few writes; the default is 64 MB.
    database = SqlDatabase(f"sqlite+aiosqlite:///{path}", max_log_bytes=512 * 1024)
    await database.start()
    try:
        inbox = SqlInbox(database)
        # One commit each, never a pause: a passive checkpoint never catches up, so
        # SQLite never restarts the log from its start (it grew to ~40 MB here).
        for n in range(4000):
            await inbox.add("telegram", str(n), "telegram:1", "x" * 1000)
        wal = os.path.getsize(f"{path}-wal")  # noqa: ASYNC240
        assert wal < 12 * 1024 * 1024, f"the log keeps its size in check ({wal:,} bytes)"
        assert len(await inbox.pending("telegram")) == 4000
    finally:
        await database.stop()


async def test_on_postgresql_only_bookkeeping_commits_without_waiting_for_its_fsync(
    postgres_database: SqlDatabase,
) -> None:
    def setting(conn: Connection) -> str:
        return str(conn.execute(text("SHOW synchronous_commit")).scalar_one())

    assert await postgres_database.write(setting, later=True) == "off"
    assert await postgres_database.write(setting) == "on", "a write waited on stays durable"
