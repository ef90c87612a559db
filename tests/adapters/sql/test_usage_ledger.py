"""Contract of UsageLedger, run against the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.usage_ledger import SqlUsageLedger
from minibot.core.conversation import ConversationKey
from minibot.core.ports.usage_ledger import UsageLedger
from minibot.core.usage import UsageRecord, UsageTotals
from tests.fakes.memory import InMemoryUsageLedger

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def ledger(database: SqlDatabase | None) -> UsageLedger:
    if database is None:
        return InMemoryUsageLedger()
    store = SqlUsageLedger(database)
    await store.start()
    return store


def usage(owner: str, at: datetime, prompt: int = 100, cost: float = 0.25) -> UsageRecord:
    return UsageRecord(
        owner_id=owner,
        conversation=ConversationKey("telegram", owner),
        model="gpt-test",
        prompt_tokens=prompt,
        completion_tokens=10,
        cost_usd=cost,
        estimated=False,
        at=at,
    )


async def test_totals_sum_an_owners_records(ledger: UsageLedger) -> None:
    await ledger.record(usage("alice", T0, prompt=100, cost=0.25))
    await ledger.record(usage("alice", T0 + timedelta(hours=1), prompt=50, cost=0.5))
    await ledger.record(usage("bob", T0, prompt=7, cost=9.0))

    totals = await ledger.totals("alice")

    assert totals.requests == 2
    assert totals.prompt_tokens == 150
    assert totals.completion_tokens == 20
    assert totals.cost_usd == pytest.approx(0.75)


async def test_since_includes_records_at_that_instant(ledger: UsageLedger) -> None:
    await ledger.record(usage("alice", T0 - timedelta(seconds=1)))
    await ledger.record(usage("alice", T0))
    await ledger.record(usage("alice", T0 + timedelta(days=1)))

    assert (await ledger.totals("alice", since=T0)).requests == 2
    # The same instant expressed in another zone selects the same records.
    other_zone = T0.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (await ledger.totals("alice", since=other_zone)).requests == 2


async def test_an_owner_without_records_has_zero_totals(ledger: UsageLedger) -> None:
    assert await ledger.totals("nobody") == UsageTotals()
