"""Contract of ConversationMemory, run against the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from minibot.adapters.sql.conversation_memory import SqlConversationMemory
from minibot.adapters.sql.database import SqlDatabase
from minibot.core.conversation import ChatMessage, ConversationKey, Role, ToolCall
from minibot.core.ports.conversation_memory import ConversationMemory
from tests.fakes.memory import InMemoryConversationMemory

CHAT = ConversationKey("telegram", "42")
OTHER = ConversationKey("telegram", "43")


@pytest.fixture
async def memory(database: SqlDatabase | None) -> ConversationMemory:
    store = InMemoryConversationMemory() if database is None else SqlConversationMemory(database)
    await store.start()
    return store


def essence(m: ChatMessage) -> tuple[object, ...]:
    return (m.role, m.content, m.tool_calls, m.tool_call_id, m.token_estimate)


def user(text: str, tokens: int = 10) -> ChatMessage:
    return ChatMessage(Role.USER, text, token_estimate=tokens)


def assistant(text: str, tokens: int = 10, calls: tuple[ToolCall, ...] = ()) -> ChatMessage:
    return ChatMessage(Role.ASSISTANT, text, tool_calls=calls, token_estimate=tokens)


def tool(call_id: str, text: str) -> ChatMessage:
    return ChatMessage(Role.TOOL, text, tool_call_id=call_id, token_estimate=10)


async def test_history_comes_back_oldest_first_with_every_field(memory: ConversationMemory) -> None:
    call = ToolCall("call-1", "save_note", '{"title": "x"}')
    sent_at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    exchange = [
        ChatMessage(Role.USER, "remember x", created_at=sent_at, token_estimate=3),
        assistant("", calls=(call,)),
        tool("call-1", "saved"),
        assistant("Done."),
    ]
    await memory.append(CHAT, exchange)

    window = await memory.recent(CHAT, max_messages=10, max_tokens=1000)

    assert [essence(m) for m in window] == [essence(m) for m in exchange]
    assert window[0].created_at == sent_at
    assert window[1].tool_calls == (call,)
    assert window[2].tool_call_id == "call-1"
    assert all(m.created_at is not None and m.created_at.tzinfo for m in window)


async def test_window_is_bounded_by_message_count_and_starts_on_a_user_message(
    memory: ConversationMemory,
) -> None:
    await memory.append(CHAT, [user("u1"), assistant("a1"), user("u2"), assistant("a2")])

    window = await memory.recent(CHAT, max_messages=3, max_tokens=1000)

    assert [m.content for m in window] == ["u2", "a2"]


async def test_window_is_bounded_by_tokens(memory: ConversationMemory) -> None:
    await memory.append(CHAT, [user("u1"), assistant("a1"), user("u2"), assistant("a2")])

    assert [m.content for m in await memory.recent(CHAT, max_messages=10, max_tokens=39)] == [
        "u2",
        "a2",
    ]
    assert await memory.recent(CHAT, max_messages=10, max_tokens=5) == []


async def test_a_tool_call_is_never_separated_from_its_results(memory: ConversationMemory) -> None:
    call = ToolCall("c1", "search_notes", "{}")
    await memory.append(CHAT, [user("u1"), assistant("a1")])
    await memory.append(
        CHAT, [user("u2"), assistant("", calls=(call,)), tool("c1", "r"), assistant("a3")]
    )

    for budget in range(1, 7):
        window = await memory.recent(CHAT, max_messages=budget, max_tokens=1000)
        assert not window or window[0].role is Role.USER
        roles = [m.role for m in window]
        if Role.TOOL in roles:
            assert roles[roles.index(Role.TOOL) - 1] is Role.ASSISTANT


async def test_conversations_are_kept_apart(memory: ConversationMemory) -> None:
    await memory.append(CHAT, [user("mine")])
    await memory.append(OTHER, [user("theirs")])

    assert [m.content for m in await memory.recent(CHAT, max_messages=10, max_tokens=999)] == [
        "mine"
    ]
    assert await memory.recent(ConversationKey("slack", "42"), max_messages=9, max_tokens=99) == []


async def test_clear_forgets_context_and_counts_what_it_dropped(memory: ConversationMemory) -> None:
    await memory.append(CHAT, [user("old"), assistant("old reply")])
    await memory.append(OTHER, [user("kept")])

    assert await memory.clear(CHAT) == 2
    assert await memory.clear(CHAT) == 0
    assert await memory.recent(CHAT, max_messages=10, max_tokens=999) == []

    await memory.append(CHAT, [user("new")])
    assert [m.content for m in await memory.recent(CHAT, max_messages=10, max_tokens=999)] == [
        "new"
    ]
    assert len(await memory.recent(OTHER, max_messages=10, max_tokens=999)) == 1


async def test_messages_without_an_estimate_get_one(memory: ConversationMemory) -> None:
    await memory.append(CHAT, [ChatMessage(Role.USER, "x" * 400)])

    (stored,) = await memory.recent(CHAT, max_messages=1, max_tokens=10_000)

    assert 90 <= stored.token_estimate <= 120
    assert stored.meta["message_id"]


async def test_no_budget_means_no_history(memory: ConversationMemory) -> None:
    await memory.append(CHAT, [user("u")])

    assert await memory.recent(CHAT, max_messages=0, max_tokens=100) == []


async def test_the_cached_window_matches_what_the_database_holds(
    sqlite_database: SqlDatabase,
) -> None:
    cached = SqlConversationMemory(sqlite_database)
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    call = ToolCall("c1", "save_note", '{"title": "x"}')
    await cached.append(CHAT, [user("first"), ChatMessage(Role.ASSISTANT, "one", meta={"a": "b"})])
    await cached.recent(CHAT, max_messages=10, max_tokens=10_000)  # fills the window
    await cached.append(
        CHAT,
        [
            ChatMessage(Role.USER, "second", created_at=when, meta={"turn_id": "t2"}),
            ChatMessage(Role.ASSISTANT, "", tool_calls=(call,)),
            ChatMessage(Role.TOOL, "saved", tool_call_id="c1"),
        ],
    )

    fresh = SqlConversationMemory(sqlite_database)
    for limit in (10, 3):
        mine = await cached.recent(CHAT, max_messages=limit, max_tokens=10_000)
        stored = await fresh.recent(CHAT, max_messages=limit, max_tokens=10_000)
        assert [(essence(m), m.created_at, m.meta) for m in mine] == [
            (essence(m), m.created_at, m.meta) for m in stored
        ]
    assert (await cached.clear(CHAT)) == 5
    assert await cached.recent(CHAT, max_messages=10, max_tokens=10_000) == []
