"""Contract of ApprovalStore, run against the fake, SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from minibot.adapters.sql.approval_store import SqlApprovalStore
from minibot.adapters.sql.database import SqlDatabase
from minibot.core.approval import Approval, ApprovalState, approval_id
from minibot.core.conversation import ConversationKey, ToolCall
from minibot.core.ports.approval_store import ApprovalStore
from tests.fakes.memory import InMemoryApprovalStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(database: SqlDatabase | None) -> ApprovalStore:
    if database is None:
        return InMemoryApprovalStore()
    sql = SqlApprovalStore(database)
    await sql.start()
    return sql


def held(turn: str, *, expires_in_seconds: float = 300) -> Approval:
    return Approval(
        id=approval_id(turn),
        conversation=ConversationKey("telegram", "-100500"),
        owner_id="telegram:42",
        speaker_name="Ada",
        calls=(ToolCall("c1", "delete_note", '{"title": "diary"}'),),
        message_id="17",
        asked_at=NOW,
        expires_at=NOW + timedelta(seconds=expires_in_seconds),
    )


async def test_a_saved_approval_reads_back_whole(store: ApprovalStore) -> None:
    approval = held("turn-1")
    await store.save(approval)
    assert await store.get(approval.id) == approval
    assert await store.get("no-such-id") is None


async def test_the_first_decision_wins_and_records_its_turn(store: ApprovalStore) -> None:
    approval = held("turn-1")
    await store.save(approval)
    decided = await store.decide(approval.id, ApprovalState.APPROVED, "press-1")
    assert decided == dataclasses.replace(
        approval, state=ApprovalState.APPROVED, decided_turn="press-1"
    )
    again = await store.decide(approval.id, ApprovalState.DENIED, "press-2")
    assert again == decided, "a later decision changes nothing"
    assert await store.decide("no-such-id", ApprovalState.DENIED, "press-3") is None


async def test_saving_again_replaces_only_while_pending(store: ApprovalStore) -> None:
    first = held("turn-1")
    await store.save(first)
    rerun = dataclasses.replace(first, calls=(ToolCall("c9", "list_notes", "{}"),))
    await store.save(rerun)
    assert await store.get(first.id) == rerun, "a turn re-run after a crash asks anew"
    await store.decide(first.id, ApprovalState.DENIED, "press-1")
    await store.save(first)
    stored = await store.get(first.id)
    assert stored is not None and stored.state is ApprovalState.DENIED, "a decision stays"


async def test_pending_lists_undecided_ones_earliest_deadline_first(store: ApprovalStore) -> None:
    late, early, done = held("a", expires_in_seconds=60), held("b", expires_in_seconds=5), held("c")
    for approval in (late, early, done):
        await store.save(approval)
    await store.decide(done.id, ApprovalState.EXPIRED, "timer")
    assert [a.id for a in await store.pending()] == [early.id, late.id]
