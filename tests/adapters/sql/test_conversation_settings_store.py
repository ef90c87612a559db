"""The conversation settings store contract, on the in-memory fake, SQLite and PostgreSQL."""

from __future__ import annotations

from minibot.adapters.sql.conversation_settings_store import SqlConversationSettingsStore
from minibot.adapters.sql.database import SqlDatabase
from minibot.core.conversation import ConversationKey
from minibot.core.conversation_settings import (
    NO_SETTINGS,
    BusyPolicy,
    ConversationSettings,
    HistorySummary,
)
from minibot.core.ports.conversation_settings_store import ConversationSettingsStore
from tests.fakes.memory import InMemoryConversationSettingsStore

CHAT = ConversationKey("telegram", "42")


def _store(database: SqlDatabase | None) -> ConversationSettingsStore:
    if database is None:
        return InMemoryConversationSettingsStore()
    return SqlConversationSettingsStore(database)


async def test_a_conversation_that_chose_nothing_has_no_settings(
    database: SqlDatabase | None,
) -> None:
    assert await _store(database).get(CHAT) == NO_SETTINGS


async def test_settings_are_kept_whole_and_replaced_whole(database: SqlDatabase | None) -> None:
    store = _store(database)
    chosen = ConversationSettings(
        "cheap", BusyPolicy.STEER, HistorySummary("Ada likes boats.", 17, 5)
    )
    await store.put(CHAT, chosen)
    await store.put(ConversationKey("telegram", "43"), ConversationSettings("other"))
    assert await store.get(CHAT) == chosen
    await store.put(CHAT, ConversationSettings(busy_policy=BusyPolicy.INTERRUPT))
    assert await store.get(CHAT) == ConversationSettings(busy_policy=BusyPolicy.INTERRUPT)
    if database is not None:
        # A fresh store over the same database (a restart) reads them back.
        again = SqlConversationSettingsStore(database)
        assert await again.get(CHAT) == ConversationSettings(busy_policy=BusyPolicy.INTERRUPT)


async def test_the_busy_policy_chosen_is_answered_and_follows_each_change(
    database: SqlDatabase | None,
) -> None:
    store = _store(database)
    other = ConversationKey("telegram", "43")
    await store.put(CHAT, ConversationSettings(busy_policy=BusyPolicy.STEER))
    assert await store.busy_policy(CHAT) is BusyPolicy.STEER
    assert await store.busy_policy(other) is None, "chose none"
    # Changed after the policies were first read: the answer follows.
    await store.put(other, ConversationSettings("cheap", BusyPolicy.INTERRUPT))
    await store.put(CHAT, ConversationSettings("cheap"))
    assert await store.busy_policy(other) is BusyPolicy.INTERRUPT
    assert await store.busy_policy(CHAT) is None
    if database is not None:
        again = SqlConversationSettingsStore(database)
        assert await again.busy_policy(other) is BusyPolicy.INTERRUPT
        assert await again.busy_policy(CHAT) is None
