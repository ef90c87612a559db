"""Contract of DeliveryLedger, run against the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.delivery_ledger import SqlDeliveryLedger
from minibot.core.ports.delivery_ledger import DeliveryLedger
from tests.fakes.memory import InMemoryDeliveryLedger


@pytest.fixture
async def ledger(database: SqlDatabase | None) -> DeliveryLedger:
    if database is None:
        return InMemoryDeliveryLedger()
    store = SqlDeliveryLedger(database)
    await store.start()
    return store


async def test_a_turn_with_nothing_sent_has_no_chunks(ledger: DeliveryLedger) -> None:
    assert await ledger.sent("turn-1") == {}


async def test_recorded_chunks_are_reported_per_turn(ledger: DeliveryLedger) -> None:
    await ledger.record("turn-1", 0, "m100")
    await ledger.record("turn-1", 1, "m101")
    await ledger.record("turn-2", 0, "m200")

    assert await ledger.sent("turn-1") == {0: "m100", 1: "m101"}
    assert await ledger.sent("turn-2") == {0: "m200"}


async def test_recording_a_chunk_again_keeps_the_first_message(ledger: DeliveryLedger) -> None:
    await ledger.record("turn-1", 0, "m100")
    await ledger.record("turn-1", 0, "m999")
    await asyncio.gather(*(ledger.record("turn-1", 1, f"m{i}") for i in range(20)))

    sent = await ledger.sent("turn-1")

    assert sent[0] == "m100"
    assert set(sent) == {0, 1}


async def test_a_reply_given_up_is_recorded_as_failed_with_its_reason(
    ledger: DeliveryLedger,
) -> None:
    await ledger.record("turn-1", 0, "m100")
    await ledger.record_failure("turn-1", "chunk 1: Forbidden: bot was blocked by the user")
    await ledger.record_failure("turn-1", "a second reason")

    assert await ledger.failure("turn-1") == "chunk 1: Forbidden: bot was blocked by the user"
    assert await ledger.failure("turn-2") is None
    assert await ledger.sent("turn-1") == {0: "m100"}, "what went out stays recorded"
