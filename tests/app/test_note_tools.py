"""The note tools and /memory, over the in-memory NoteStore: scoping, limits, validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from minibot.app.commands import CommandRequest, CommandRouter
from minibot.app.memory_commands import MemoryCommands
from minibot.app.tools.note_tools import NoteTools
from minibot.app.tools.registry import ToolContext, ToolRegistry
from minibot.core.conversation import ConversationKey, ToolCall
from minibot.core.messages import IncomingMessage, Sender
from tests.fakes.memory import InMemoryNoteStore

ALICE = ToolContext("telegram:1", ConversationKey("telegram", "1"), "m1", "call-1")
MALLORY = ToolContext("telegram:666", ConversationKey("telegram", "666"), "m9", "call-9")


@pytest.fixture
def store() -> InMemoryNoteStore:
    return InMemoryNoteStore()


@pytest.fixture
def registry(store: InMemoryNoteStore) -> ToolRegistry:
    tools = NoteTools(
        store,
        default_limit=2,
        max_limit=3,
        max_title_chars=20,
        max_content_chars=50,
        now=lambda: datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
    )
    return ToolRegistry(tools.tools(), timeout_seconds=1)


async def call(registry: ToolRegistry, name: str, context: ToolContext, **args: object) -> dict:
    return json.loads(await registry.run(ToolCall("c", name, json.dumps(args)), context))


async def test_save_then_get_search_list_delete(registry: ToolRegistry) -> None:
    saved = await call(
        registry, "save_note", ALICE, title="Locker code", content="4711", tags=["gym"]
    )
    assert saved["ok"] and saved["result"]["saved"]["content"] == "4711"
    got = await call(registry, "get_note", ALICE, title="locker cod")
    assert got["result"]["content"] == "4711", "a small typo in the title is tolerated"
    found = await call(registry, "search_notes", ALICE, query="locker")
    assert [n["title"] for n in found["result"]["notes"]] == ["Locker code"]
    listed = await call(registry, "list_notes", ALICE)
    assert listed["result"]["total"] == 1
    deleted = await call(registry, "delete_note", ALICE, title="Locker code")
    assert deleted["ok"]
    missing = await call(registry, "get_note", ALICE, title="Locker code")
    assert missing["ok"] is False and "no note" in missing["error"]


async def test_saving_records_provenance(registry: ToolRegistry, store: InMemoryNoteStore) -> None:
    await call(registry, "save_note", ALICE, title="pin", content="1234")
    note = await store.get("telegram:1", "pin")
    assert note is not None
    assert note.provenance.conversation == "telegram:1"
    assert note.provenance.message_id == "m1" and note.provenance.tool_call_id == "call-1"


@pytest.mark.parametrize(
    "arguments",
    [
        {"title": "Locker code", "owner_id": "telegram:1"},
        {"title": "Locker code", "owner": "telegram:1"},
        {"title": "telegram:1/Locker code"},
        {"title": "' OR 1=1 --"},
        {"title": "*"},
    ],
)
async def test_another_owner_can_never_reach_alices_notes(
    registry: ToolRegistry, arguments: dict[str, str]
) -> None:
    await call(registry, "save_note", ALICE, title="Locker code", content="4711")
    got = json.loads(await registry.run(ToolCall("c", "get_note", json.dumps(arguments)), MALLORY))
    assert "4711" not in json.dumps(got)
    for query in ("locker", "4711", "*", '" OR 1=1 --', "owner:telegram:1"):
        found = await call(registry, "search_notes", MALLORY, query=query)
        assert "4711" not in json.dumps(found)
    listed = await call(registry, "list_notes", MALLORY)
    assert listed["result"]["total"] == 0


async def test_pages_are_clamped_to_the_configured_limits(registry: ToolRegistry) -> None:
    for n in range(5):
        await call(registry, "save_note", ALICE, title=f"note {n}", content="x")
    default_page = await call(registry, "list_notes", ALICE)
    assert len(default_page["result"]["notes"]) == 2 and default_page["result"]["total"] == 5
    too_big = await call(registry, "list_notes", ALICE, limit=100)
    assert too_big["ok"] is False and "invalid arguments" in too_big["error"]
    last = await call(registry, "list_notes", ALICE, offset=3, limit=3)
    assert len(last["result"]["notes"]) == 2


async def test_size_limits_give_clear_errors(registry: ToolRegistry) -> None:
    long = await call(registry, "save_note", ALICE, title="t", content="x" * 51)
    assert long["ok"] is False and "content" in long["error"] and "too long" in long["error"]
    empty = await call(registry, "save_note", ALICE, title="", content="x")
    assert empty["ok"] is False and "title" in empty["error"]


async def test_memory_command_lists_shows_exports_and_forgets_with_confirmation(
    registry: ToolRegistry, store: InMemoryNoteStore
) -> None:
    router = CommandRouter()
    MemoryCommands(store).register(router)
    await call(registry, "save_note", ALICE, title="Locker code", content="4711")
    message = IncomingMessage(
        ConversationKey("telegram", "1"), Sender("telegram", "1"), "", datetime.now(UTC)
    )

    async def memory(args: str) -> str:
        handler = router.command("memory")
        assert handler is not None
        return (await handler(CommandRequest(message, "telegram:1", args))).text

    listing = await memory("")
    assert "Locker code: 4711" in listing and "telegram:1" in listing and "2026-01-02" in listing
    assert "tool call call-1" in await memory("show locker code")
    assert json.loads(await memory("export"))[0]["content"] == "4711"
    asked = await memory("forget all")
    assert "Really forget all 1" in asked
    assert await store.count("telegram:1") == 1, "nothing is deleted before confirmation"
    assert "Forgot all your notes (1)" in await memory("forget all confirm")
    assert await store.count("telegram:1") == 0
