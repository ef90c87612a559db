"""Contract of DeliveryLedger, run against the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.delivery_ledger import DeliveryClaims, SqlDeliveryLedger
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


# -- claims: two senders (replicas) over one ledger -----------------------------------

_START = datetime(2026, 1, 1, tzinfo=UTC)


class _Clock:
    def __init__(self) -> None:
        self.elapsed = 0.0

    def now(self) -> datetime:
        return _START + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
async def senders(
    database: SqlDatabase | None, clock: _Clock
) -> tuple[DeliveryLedger, DeliveryLedger]:
    """Two senders of one ledger, each holding a claim 10 s."""
    if database is None:
        first = InMemoryDeliveryLedger(owner="a", lease_seconds=10, now=clock.monotonic)
        second = InMemoryDeliveryLedger(
            owner="b", lease_seconds=10, now=clock.monotonic, shared_with=first
        )
        return first, second
    stores = [
        SqlDeliveryLedger(database, DeliveryClaims(10, owner), now=clock.now)
        for owner in ("a", "b")
    ]
    for store in stores:
        await store.start()
    return stores[0], stores[1]


async def test_a_chunk_claimed_by_one_sender_is_held_from_the_other(
    senders: tuple[DeliveryLedger, DeliveryLedger],
) -> None:
    first, second = senders

    assert (await first.claim("turn-1", 0)).won
    held = await second.claim("turn-1", 0)

    assert not held.won and held.message_id is None, "the other must wait, not send"
    assert 0 < held.wait_seconds <= 10
    assert (await second.claim("turn-1", 1)).won, "another chunk is free"
    assert (await first.claim("turn-1", 0)).won, "its holder may claim it again"


async def test_a_chunk_sent_is_reported_sent_to_whoever_claims_it(
    senders: tuple[DeliveryLedger, DeliveryLedger], clock: _Clock
) -> None:
    first, second = senders
    assert (await first.claim("turn-1", 0)).won
    await first.record("turn-1", 0, "m100")
    clock.elapsed = 60  # long past the lease: sent stays sent

    found = await second.claim("turn-1", 0)

    assert not found.won and found.message_id == "m100"
    assert (await first.claim("turn-1", 0)).message_id == "m100"


async def test_a_chunk_recorded_without_a_claim_is_never_claimed(
    senders: tuple[DeliveryLedger, DeliveryLedger],
) -> None:
    first, second = senders
    await first.record("turn-1", 0, "m100")

    assert (await second.claim("turn-1", 0)).message_id == "m100"


async def test_a_lapsed_claim_is_taken_by_the_other_sender(
    senders: tuple[DeliveryLedger, DeliveryLedger], clock: _Clock
) -> None:
    first, second = senders
    assert (await first.claim("turn-1", 0)).won
    clock.elapsed = 9.5
    assert not (await second.claim("turn-1", 0)).won, "still within the lease"

    clock.elapsed = 10.5
    assert (await second.claim("turn-1", 0)).won, "the holder died mid-send: taken over"
    assert not (await first.claim("turn-1", 0)).won, "and the first holder lost it"


async def test_of_senders_racing_for_one_chunk_exactly_one_wins(
    senders: tuple[DeliveryLedger, DeliveryLedger],
) -> None:
    first, second = senders

    outcomes = await asyncio.gather(
        *(sender.claim("turn-1", chunk) for chunk in range(5) for sender in (first, second))
    )

    won = [outcome.won for outcome in outcomes]
    assert [won[i] + won[i + 1] for i in range(0, 10, 2)] == [1] * 5


async def test_one_process_wins_its_claims_without_the_store(
    database: SqlDatabase | None,
) -> None:
    if database is None:
        pytest.skip("the fake always shares its dicts")
    ledger = SqlDeliveryLedger(database)
    await ledger.start()

    assert (await ledger.claim("turn-1", 0)).won
    assert (await ledger.claim("turn-1", 0)).won, "no claims kept by one process"
