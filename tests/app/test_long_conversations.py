"""Long conversations: the history past the budget is summarized (never cut silently), the
person told once; an oversized message is cut with a note; tool outputs are capped."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from minibot.app import replies
from minibot.app.history_context import SUMMARY_HEADING, SUMMARY_INSTRUCTION
from minibot.app.tools.registry import Tool, ToolAccess, ToolContext
from minibot.core.conversation import ConversationKey, Role
from minibot.core.llm import ToolSpec
from tests.app.harness import AppHarness, build_app
from tests.fakes.memory import InMemoryConversationSettingsStore

CHAT = ConversationKey("test", "1")


@pytest.fixture
def chats() -> InMemoryConversationSettingsStore:
    return InMemoryConversationSettingsStore()


@pytest.fixture
async def app(chats: InMemoryConversationSettingsStore) -> AsyncIterator[AppHarness]:
    # Each message of 100 characters is about 30 tokens: one exchange fills the budget.
    harness = build_app(summarize=True, history_token_budget=70, conversation_settings=chats)
    await harness.start()
    yield harness
    await harness.stop()


async def test_history_past_the_budget_is_summarized_and_the_next_request_starts_with_it(
    app: AppHarness, chats: InMemoryConversationSettingsStore
) -> None:
    await app.say("A" * 100)
    await app.settle()
    assert len(app.model.calls) == 1, "nothing to summarize yet"

    app.model.then_text("Ada wrote a row of As.")  # the summary
    await app.say("B" * 100)
    await app.settle()
    summary_request = app.model.calls[1][0]
    assert summary_request[0].content == SUMMARY_INSTRUCTION
    assert "A" * 100 in summary_request[1].content
    answered = app.model.calls[2][0]
    assert answered[0].role is Role.SYSTEM
    assert answered[0].content == f"be brief\n\n{SUMMARY_HEADING}\nAda wrote a row of As."
    reply = app.channel.texts()[1]
    assert reply == f"echo: {'B' * 100}\n\n{replies.SUMMARIZED}"
    stored = (await chats.get(CHAT)).summary
    assert stored is not None and stored.text == "Ada wrote a row of As."

    app.model.then_text("Ada wrote As, then Bs.")  # the next fold
    await app.say("C" * 100)
    await app.settle()
    assert "Summary so far: Ada wrote a row of As." in app.model.calls[3][0][1].content
    assert app.model.calls[4][0][0].content.endswith("Ada wrote As, then Bs.")
    assert replies.SUMMARIZED not in app.channel.texts()[2], "told once"

    await app.say("/context")
    await app.settle()
    context = app.channel.texts()[3]
    assert "Summary of earlier messages: Ada wrote As, then Bs." in context
    assert "Messages sent: 2" in context


async def test_without_summaries_the_old_window_is_cut_as_before() -> None:
    app = build_app(history_token_budget=70)
    await app.start()
    try:
        for text in ("A" * 100, "B" * 100):
            await app.say(text)
            await app.settle()
        assert len(app.model.calls) == 2
        assert app.model.calls[1][0][0].content == "be brief"
    finally:
        await app.stop()


async def test_an_oversized_message_is_cut_and_the_reply_says_so() -> None:
    app = build_app(max_input_tokens=10)
    await app.start()
    try:
        await app.say("x" * 400)
        await app.settle()
        sent = app.model.calls[0][0][-1].content
        assert sent == "x" * 40
        [reply] = app.channel.texts()
        assert reply.endswith(replies.input_cut(100, 10))
    finally:
        await app.stop()


async def _dump(arguments: Mapping[str, Any], context: ToolContext) -> str:
    return "y" * 5000


async def test_a_tool_output_is_capped_before_the_model_reads_it() -> None:
    tool = Tool(
        ToolSpec("dump", "returns a lot", {"type": "object", "properties": {}}),
        _dump,
        ToolAccess.PUBLIC,
    )
    app = build_app(tools=[tool], max_tool_output_chars=1000)
    await app.start()
    try:
        app.model.then_tool("dump", "{}")
        await app.say("dump it")
        await app.settle()
        result = app.model.calls[1][0][-1]
        assert result.role is Role.TOOL
        shown = json.loads(result.content)
        assert shown["truncated"] is True and "only the first 1000" in shown["note"]
        assert len(shown["result_text"]) == 1000 and "y" * 900 in shown["result_text"]
    finally:
        await app.stop()


async def test_reset_forgets_the_summary_with_the_messages(
    app: AppHarness, chats: InMemoryConversationSettingsStore
) -> None:
    await app.say("A" * 100)
    await app.settle()
    app.model.then_text("Ada wrote As.")
    await app.say("B" * 100)
    await app.settle()
    assert (await chats.get(CHAT)).summary is not None
    await app.say("/reset")
    await app.say("fresh start")
    await app.settle()
    assert (await chats.get(CHAT)).summary is None
    assert app.model.calls[-1][0][0].content == "be brief", "no summary of forgotten words"
