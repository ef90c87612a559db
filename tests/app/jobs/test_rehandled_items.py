"""An inbox item handled again after a crash creates nothing twice: jobs and notes are
keyed by the turn (a command) or the turn's n-th call of a tool (an LLM turn)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.note_store import SqlNoteStore
from minibot.app.tools.note_tools import NoteTools
from minibot.core.conversation import ChatMessage, ConversationKey, ToolCall
from minibot.core.errors import StoreError
from minibot.core.events import MessageReceived
from minibot.core.llm import Completion, TokenUsage
from minibot.core.messages import IncomingMessage, Sender
from minibot.core.ports.job_store import JobStore
from minibot.core.ports.note_store import NoteStore
from tests.app.jobs.job_harness import ALICE, T0, JobHarness, build_tasks
from tests.fakes.job_store import InMemoryJobStore
from tests.fakes.memory import InMemoryNoteStore

CHAT = ConversationKey("test", "1")


@pytest.fixture(params=["fakes", "file+sql"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[JobStore, NoteStore]]:
    """The in-memory fakes, or the file task store with the SQL note store (SQLite)."""
    if request.param == "fakes":
        yield InMemoryJobStore(), InMemoryNoteStore()
        return
    database = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'minibot.db'}")
    notes = SqlNoteStore(database)
    await notes.start()
    try:
        yield FileJobStore(tmp_path / "tasks"), notes
    finally:
        await database.stop()


@pytest.fixture
async def h(stores: tuple[JobStore, NoteStore]) -> AsyncIterator[JobHarness]:
    job_store, notes = stores
    note_tools = NoteTools(
        notes,
        default_limit=10,
        max_limit=50,
        max_title_chars=200,
        max_content_chars=8000,
        now=lambda: T0,
    )
    harness = build_tasks(store=job_store, extra_tools=note_tools.tools())  # type: ignore[arg-type]
    harness.notes = notes  # type: ignore[attr-defined]
    await harness.start()
    yield harness
    await harness.stop()


async def handle(h: JobHarness, text: str, inbox_id: int) -> str:
    """Publish the inbox item's message, as a channel does at intake and again when it
    re-publishes its pending inbox after a restart; returns the reply."""
    before = len(h.app.channel.delivered)
    message = IncomingMessage(
        CHAT, Sender("test", "7", "Ada"), text, received_at=datetime.now(UTC), inbox_id=inbox_id
    )
    await h.app.bus.publish(MessageReceived(message))
    await h.wait_for(lambda: len(h.app.channel.delivered) > before)
    return h.app.channel.delivered[before].text


async def test_a_remind_command_handled_twice_creates_one_job(h: JobHarness) -> None:
    first = await handle(h, "/remind in 2 hours take the cake out", inbox_id=41)
    again = await handle(h, "/remind in 2 hours take the cake out", inbox_id=41)

    jobs = await h.tasks.jobs(ALICE)
    assert len(jobs) == 1, "the command handled again after a crash made no second job"
    assert again == first, "and it answers with the job it made the first time"
    assert first.startswith('Reminder "take the cake out" set for')

    # A new message with the same text is a new request: it does make a second job.
    await handle(h, "/remind in 2 hours take the cake out", inbox_id=42)
    assert len(await h.tasks.jobs(ALICE)) == 2


def crash_before_the_exchange_is_stored(h: JobHarness) -> None:
    """The next turn's messages are not stored, as if the process died after its tools
    ran but before the turn's one write: the item is then handled again."""
    memory = h.app.memory
    store = memory.append

    async def append_once_failing(
        conversation: ConversationKey, messages: Sequence[ChatMessage]
    ) -> None:
        memory.append = store  # type: ignore[method-assign]
        raise StoreError("the process died here")

    memory.append = append_once_failing  # type: ignore[method-assign]


def tool_calls(h: JobHarness, calls: list[tuple[str, dict[str, Any]]], answer: str) -> None:
    """The model asks for all `calls` at once (call ids new each time), then answers."""
    fresh = uuid.uuid4().hex[:6]
    asked = tuple(
        ToolCall(f"call-{fresh}-{n}", name, json.dumps(args))
        for n, (name, args) in enumerate(calls)
    )
    h.app.model.script.append(Completion("", tool_calls=asked, usage=TokenUsage(5, 5)))
    h.app.model.then_text(answer)


async def test_tool_calls_of_a_turn_run_again_after_a_crash_create_one_job_and_one_note(
    h: JobHarness,
) -> None:
    notes: NoteStore = h.notes  # type: ignore[attr-defined]
    crash_before_the_exchange_is_stored(h)
    tool_calls(
        h,
        [
            ("schedule_reminder", {"when": "in 3 hours", "text": "call mum"}),
            ("save_note", {"title": "Mum's number", "content": "555-0101"}),
        ],
        "Done: reminder set and number saved.",
    )
    await handle(h, "remind me to call mum in 3 hours and keep her number 555-0101", 77)
    assert len(await h.tasks.jobs(ALICE)) == 1

    # Run again, the model words things a little differently (its call ids are new too).
    tool_calls(
        h,
        [
            ("schedule_reminder", {"when": "in 3 hours", "text": "call Mum"}),
            ("save_note", {"title": "Mum phone", "content": "555-0101"}),
        ],
        "Done: reminder set and number saved.",
    )
    reply = await handle(h, "remind me to call mum in 3 hours and keep her number 555-0101", 77)

    assert reply == "Done: reminder set and number saved."
    jobs = await h.tasks.jobs(ALICE)
    assert [job.action.text for job in jobs] == ["call mum"], "one job, the first one"
    assert await notes.count(ALICE) == 1, "one note"
    assert [n.title for n in await notes.list(ALICE)] == ["Mum's number"]


async def test_two_calls_of_one_tool_in_a_turn_are_two_creations(h: JobHarness) -> None:
    notes: NoteStore = h.notes  # type: ignore[attr-defined]
    tool_calls(
        h,
        [
            ("schedule_reminder", {"when": "in 1 hour", "text": "stretch"}),
            ("schedule_reminder", {"when": "in 2 hours", "text": "stretch again"}),
            ("save_note", {"title": "a", "content": "1"}),
            ("save_note", {"title": "b", "content": "2"}),
        ],
        "ok",
    )
    await handle(h, "two reminders and two notes", 5)

    assert len(await h.tasks.jobs(ALICE)) == 2
    assert await notes.count(ALICE) == 2
