"""Contract of Inbox, run against the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Connection, select

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.inbox import SqlInbox
from minibot.adapters.sql.tables import dead_letters
from minibot.core.errors import EntryRejected, StoreUnavailable
from minibot.core.ports.inbox import Inbox, InboxEntry
from tests.fakes.memory import InMemoryInbox


@pytest.fixture
async def inbox(database: SqlDatabase | None) -> Inbox:
    if database is None:
        return InMemoryInbox()
    store = SqlInbox(database)
    await store.start()
    return store


async def test_an_update_is_stored_once(inbox: Inbox) -> None:
    first = await inbox.add("telegram", "u1", "telegram:42", '{"text": "hi"}')
    again = await inbox.add("telegram", "u1", "telegram:42", '{"text": "hi"}')

    assert first is not None
    assert again is None
    assert [item.id for item in await inbox.pending("telegram")] == [first]


async def test_the_same_external_id_on_another_channel_is_a_different_update(inbox: Inbox) -> None:
    assert await inbox.add("telegram", "u1", "telegram:42", "a") is not None
    assert await inbox.add("slack", "u1", "slack:42", "b") is not None


async def test_pending_lists_unfinished_updates_of_a_channel_oldest_first(inbox: Inbox) -> None:
    ids = [await inbox.add("telegram", f"u{n}", "telegram:42", f"p{n}") for n in range(4)]
    await inbox.add("slack", "s1", "slack:1", "other channel")
    assert all(item_id is not None for item_id in ids)

    await inbox.mark_done(ids[1])  # type: ignore[arg-type]
    pending = await inbox.pending("telegram")

    assert [item.payload for item in pending] == ["p0", "p2", "p3"]
    assert pending[0].channel == "telegram"
    assert pending[0].external_id == "u0"
    assert pending[0].conversation == "telegram:42"


async def test_mark_done_is_idempotent(inbox: Inbox) -> None:
    item_id = await inbox.add("telegram", "u1", "telegram:42", "p")
    assert item_id is not None

    await inbox.mark_done(item_id)
    await inbox.mark_done(item_id)
    await inbox.mark_done(987_654)

    assert await inbox.pending("telegram") == []


async def test_concurrent_adds_of_one_update_store_it_once(inbox: Inbox) -> None:
    results = await asyncio.gather(
        *(inbox.add("telegram", "dup", "telegram:1", "p") for _ in range(30))
    )

    assert len([r for r in results if r is not None]) == 1
    assert len(await inbox.pending("telegram")) == 1


async def test_concurrent_adds_of_many_chats_all_get_distinct_ids(inbox: Inbox) -> None:
    results = await asyncio.gather(
        *(inbox.add("telegram", f"u{n}", f"telegram:{n % 50}", "p") for n in range(300))
    )

    assert None not in results
    assert len(set(results)) == 300
    assert len(await inbox.pending("telegram")) == 300


async def test_add_many_returns_ids_in_order_and_none_for_each_duplicate(inbox: Inbox) -> None:
    earlier = await inbox.add("telegram", "u2", "telegram:1", "stored before")
    entries = [
        InboxEntry("u1", "telegram:1", "first"),
        InboxEntry("u2", "telegram:1", "again"),
        InboxEntry("u3", "telegram:2", "third"),
        InboxEntry("u1", "telegram:1", "repeat within the call"),
    ]

    ids = await inbox.add_many("telegram", entries)

    assert ids[1] is None and ids[3] is None
    assert ids[0] is not None and ids[2] is not None and ids[0] < ids[2]
    pending = await inbox.pending("telegram")
    assert [(item.id, item.payload) for item in pending] == [
        (earlier, "stored before"),
        (ids[0], "first"),
        (ids[2], "third"),
    ]


async def test_concurrent_add_many_calls_each_get_their_own_ids(inbox: Inbox) -> None:
    batches = [
        [InboxEntry(f"b{b}u{n}", f"telegram:{b}", f"{b}/{n}") for n in range(5)] for b in range(8)
    ]

    results = await asyncio.gather(*(inbox.add_many("telegram", batch) for batch in batches))

    stored = {item.id: item.payload for item in await inbox.pending("telegram")}
    for b, ids in enumerate(results):
        assert [stored[item_id] for item_id in ids if item_id is not None] == [
            f"{b}/{n}" for n in range(5)
        ]
    assert await inbox.add_many("telegram", []) == []


async def test_an_entry_the_store_cannot_encode_is_rejected_and_nothing_of_its_batch_stored(
    inbox: Inbox,
) -> None:
    # A lone surrogate reaching the store (fast_json escapes it; a caller might not).
    entries = [InboxEntry("u1", "telegram:42", "fine"), InboxEntry("u2", "telegram:42", "\ud800")]

    with pytest.raises(EntryRejected):
        await inbox.add_many("telegram", entries)

    assert await inbox.pending("telegram") == []
    assert await inbox.add_many("telegram", entries[:1]) != [None]


async def test_a_store_that_is_down_is_unavailable_not_a_refusal(
    database: SqlDatabase | None,
) -> None:
    if database is None:
        pytest.skip("the in-memory fake is never down")
    store = SqlInbox(database)
    await store.start()
    await database.stop()

    with pytest.raises(StoreUnavailable):
        await store.add_many("telegram", [InboxEntry("u1", "telegram:42", "p")])
    with pytest.raises(StoreUnavailable):
        await store.set_aside("telegram", b"raw", "why")


async def test_a_dead_letter_keeps_the_raw_bytes_and_the_reason_once(
    inbox: Inbox, database: SqlDatabase | None
) -> None:
    raw = b'{"update_id":18446744073709551616,"text":"\\ud800"}\xff'

    assert await inbox.set_aside("telegram", raw, "cannot store: surrogates") is True
    assert await inbox.set_aside("telegram", raw, "again") is False, "a redelivery is kept once"
    assert await inbox.set_aside("slack", raw, "another channel") is True

    assert await _dead_letters(inbox, database) == [
        ("telegram", raw, "cannot store: surrogates"),
        ("slack", raw, "another channel"),
    ]
    assert await inbox.pending("telegram") == [], "a dead letter is not an inbox item"


async def _dead_letters(inbox: Inbox, database: SqlDatabase | None) -> list[tuple[str, bytes, str]]:
    if database is None:
        assert isinstance(inbox, InMemoryInbox)
        return [(d.channel, d.raw, d.error) for d in inbox.dead_letters]
    query = select(dead_letters.c.channel, dead_letters.c.raw, dead_letters.c.error).order_by(
        dead_letters.c.id
    )

    def operation(conn: Connection) -> list[tuple[str, bytes, str]]:
        return [(channel, bytes(raw), error) for channel, raw, error in conn.execute(query)]

    return await database.read(operation)
