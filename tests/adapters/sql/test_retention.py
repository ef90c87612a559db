"""StorageRetention: old handled rows pruned in batches, usage rolled up, the WAL shrunk."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, func, select, update

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.delivery_ledger import SqlDeliveryLedger
from minibot.adapters.sql.inbox import SqlInbox
from minibot.adapters.sql.retention import StorageRetention
from minibot.adapters.sql.tables import deliveries, inbox, usage
from minibot.adapters.sql.usage_ledger import SqlUsageLedger
from minibot.app.basic_commands import BasicCommands
from minibot.app.commands import CommandRequest
from minibot.core.conversation import ConversationKey
from minibot.core.health import HealthState
from minibot.core.messages import IncomingMessage, Sender
from minibot.core.ports.inbox import InboxEntry
from minibot.core.usage import UsageRecord
from tests.fakes.clock import ManualClock
from tests.fakes.memory import InMemoryConversationMemory

NOW = datetime(2026, 3, 15, 10, 30, tzinfo=UTC)
OLD = NOW - timedelta(days=31)
RECENT = NOW - timedelta(days=29)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> SqlDatabase:
    database: SqlDatabase = request.getfixturevalue(f"{request.param}_database")
    return database


def retention(database: SqlDatabase, *, batch_rows: int = 3) -> StorageRetention:
    return StorageRetention(
        database,
        SqlInbox(database),
        SqlDeliveryLedger(database),
        SqlUsageLedger(database),
        retention_days=30,
        interval_seconds=3600,
        now=lambda: NOW,
        batch_rows=batch_rows,
    )


async def count(database: SqlDatabase, table: object) -> int:
    def operation(conn: Connection) -> int:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]

    return await database.read(operation)


async def backdate_done(database: SqlDatabase, ids: list[int], when: datetime) -> None:
    def operation(conn: Connection) -> None:
        conn.execute(update(inbox).where(inbox.c.id.in_(ids)).values(done_at=when))

    await database.write(operation)


async def test_handled_inbox_items_past_retention_are_deleted_and_pending_ones_never(
    db: SqlDatabase,
) -> None:
    box = SqlInbox(db)
    entries = [InboxEntry(f"u{n}", "telegram:42", f"p{n}") for n in range(12)]
    ids = [i for i in await box.add_many("telegram", entries) if i is not None]
    old_done, recent_done, pending = ids[:7], ids[7:10], ids[10:]
    for item_id in old_done + recent_done:
        await box.mark_done(item_id)
    await backdate_done(db, old_done, OLD)
    await backdate_done(db, recent_done, RECENT)

    pruned = await retention(db, batch_rows=3).prune()

    assert pruned.inbox == 7, "every handled item older than 30 days went, in batches of 3"
    assert await count(db, inbox) == 5, "the recent handled items and the pending ones stay"
    assert [item.id for item in await box.pending("telegram")] == pending
    # Not even a pending item received long ago is deleted.

    def received_long_ago(conn: Connection) -> None:
        conn.execute(update(inbox).where(inbox.c.id.in_(pending)).values(created_at=OLD))

    await db.write(received_long_ago)
    assert (await retention(db).prune()).inbox == 0
    assert [item.id for item in await box.pending("telegram")] == pending


async def test_delivery_records_past_retention_are_deleted(db: SqlDatabase) -> None:
    ledger = SqlDeliveryLedger(db)
    for turn in range(5):
        for chunk in range(2):
            await ledger.record(f"telegram:42#in{turn}", chunk, f"m{turn}.{chunk}")

    def backdate(conn: Connection) -> None:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.turn_id.in_(["telegram:42#in0", "telegram:42#in1"]))
            .values(at=OLD)
        )
        conn.execute(
            update(deliveries).where(deliveries.c.turn_id == "telegram:42#in2").values(at=RECENT)
        )

    await db.write(backdate)

    pruned = await retention(db, batch_rows=3).prune()

    assert pruned.deliveries == 4
    assert await ledger.sent("telegram:42#in0") == {}
    assert await ledger.sent("telegram:42#in2") == {0: "m2.0", 1: "m2.1"}
    assert await count(db, deliveries) == 6


def record(owner: str, at: datetime, model: str, prompt: int, cost: float) -> UsageRecord:
    return UsageRecord(
        owner_id=owner,
        conversation=ConversationKey("telegram", owner),
        model=model,
        prompt_tokens=prompt,
        completion_tokens=prompt // 3,
        cost_usd=cost,
        estimated=False,
        at=at,
    )


async def usage_reply(ledger: SqlUsageLedger, owner: str) -> str:
    commands = BasicCommands(
        memory=InMemoryConversationMemory(),
        usage=ledger,
        clock=ManualClock(NOW),
        tool_names=lambda: (),
    )
    message = IncomingMessage(
        ConversationKey("telegram", owner), Sender("telegram", owner), "/usage", NOW
    )
    return (await commands.usage(CommandRequest(message, owner, ""))).text


async def test_usage_rows_past_retention_are_rolled_up_and_usage_totals_stay_the_same(
    db: SqlDatabase,
) -> None:
    ledger = SqlUsageLedger(db)
    # Three months of requests by two people on two models, a few a day, at odd hours.
    start = NOW - timedelta(days=75)
    n = 0
    for day in range(76):
        for hour in (0, 7, 23):
            at = start + timedelta(days=day, hours=hour, minutes=n % 60)
            if at > NOW:
                continue
            owner = "alice" if n % 3 else "bob"
            model = "gpt-a" if n % 2 else "gpt-b"
            await ledger.record(record(owner, at, model, 100 + n, 0.0001 * (n % 7) + 0.001))
            n += 1
    month = NOW.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    cutoffs = [None, month, month - timedelta(days=28), NOW - timedelta(days=40)]
    before = {
        owner: (
            await usage_reply(ledger, owner),
            [await ledger.totals(owner, since=c) for c in cutoffs],
        )
        for owner in ("alice", "bob")
    }
    rows_before = await count(db, usage)

    pruned = await retention(db, batch_rows=50).prune()

    assert pruned.usage > 100, "every row older than 30 days was rolled up"
    assert await count(db, usage) == rows_before - pruned.usage
    for owner, (reply, totals) in before.items():
        assert await usage_reply(ledger, owner) == reply, "/usage reads exactly the same"
        for cutoff, expected in zip(cutoffs, totals, strict=True):
            after = await ledger.totals(owner, since=cutoff)
            # Day boundaries are exact; a cutoff inside a rolled-up day counts that day
            # only when it starts at or after the cutoff.
            if cutoff is None or cutoff.hour == 0:
                assert (after.requests, after.prompt_tokens, after.completion_tokens) == (
                    expected.requests,
                    expected.prompt_tokens,
                    expected.completion_tokens,
                )
                assert after.cost_usd == pytest.approx(expected.cost_usd, rel=1e-12)

    # A second pass finds nothing more, and rolling up again never double counts.
    assert (await retention(db).prune()).usage == 0
    assert await usage_reply(ledger, "alice") == before["alice"][0]


@pytest.fixture
async def file_database(tmp_path: Path) -> AsyncIterator[tuple[SqlDatabase, Path]]:
    path = tmp_path / "minibot.db"
    database = SqlDatabase(f"sqlite+aiosqlite:///{path}")
    await database.start()
    try:
        yield database, path
    finally:
        await database.stop()


async def test_the_sqlite_log_is_truncated_after_pruning(
    file_database: tuple[SqlDatabase, Path],
) -> None:
    database, path = file_database
    box = SqlInbox(database)
    payload = "x" * 2000
    for start in range(0, 3000, 100):
        entries = [InboxEntry(f"u{n}", "telegram:42", payload) for n in range(start, start + 100)]
        await box.add_many("telegram", entries)
    wal = f"{path}-wal"
    assert os.path.getsize(wal) > 1_000_000, "the writes went through the log"  # noqa: ASYNC240

    def all_done(conn: Connection) -> None:
        conn.execute(update(inbox).values(done=True, done_at=OLD))

    await database.write(all_done)
    keeper = StorageRetention(
        database,
        box,
        SqlDeliveryLedger(database),
        SqlUsageLedger(database),
        retention_days=30,
        interval_seconds=3600,
        now=lambda: NOW,
    )

    pruned = await keeper.prune()

    assert pruned.inbox == 3000
    assert pruned.log_shrunk
    assert os.path.getsize(wal) == 0, "the log no longer keeps its peak size"  # noqa: ASYNC240
    # The database still works after the truncation, and nothing pending was lost.
    assert await box.add("telegram", "later", "telegram:42", "p") is not None
    assert [item.external_id for item in await box.pending("telegram")] == ["later"]


async def test_a_failing_pass_degrades_the_service_and_the_loop_goes_on(
    file_database: tuple[SqlDatabase, Path],
) -> None:
    database, _ = file_database
    keeper = StorageRetention(
        database,
        SqlInbox(database),
        SqlDeliveryLedger(database),
        SqlUsageLedger(database),
        retention_days=30,
        interval_seconds=0.01,
        now=lambda: NOW,
    )
    await keeper.start()
    assert keeper.health.state is HealthState.READY
    await database.stop()  # every read and write now fails with StoreError

    loop = asyncio.create_task(keeper.run())
    try:
        async with asyncio.timeout(10):
            while keeper.health.state is not HealthState.DEGRADED:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert "could not be pruned" in (keeper.health.reason or "")
        await database.start()
        async with asyncio.timeout(10):
            while keeper.health.state is not HealthState.READY:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert not loop.done(), "the loop survives a failed pass"
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
