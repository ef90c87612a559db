"""The conversation turn through the bus and dispatcher, with in-memory fakes."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from minibot.app import replies
from minibot.app.tools.registry import Tool, ToolContext
from minibot.core.conversation import ConversationKey, Role
from minibot.core.errors import LLMRejected, LLMUnavailable, StreamInterrupted
from minibot.core.llm import ToolSpec
from tests.app.harness import AppHarness, build_app


@pytest.fixture
async def app() -> AsyncIterator[AppHarness]:
    harness = build_app()
    await harness.start()
    yield harness
    await harness.stop()


async def test_a_message_gets_the_model_reply_and_both_are_stored(app: AppHarness) -> None:
    await app.say("hello there")
    await app.settle()
    assert app.channel.texts() == ["echo: hello there"]
    stored = await app.memory.recent(ConversationKey("test", "1"), max_messages=10, max_tokens=999)
    assert [(m.role, m.content) for m in stored] == [
        (Role.USER, "hello there"),
        (Role.ASSISTANT, "echo: hello there"),
    ]
    system = app.model.calls[0][0][0]
    assert system.role is Role.SYSTEM and system.content == "be brief"


async def test_history_is_sent_on_the_next_turn(app: AppHarness) -> None:
    await app.say("my name is Ada")
    await app.settle()
    await app.say("what is my name?")
    await app.settle()
    sent = [m.content for m in app.model.calls[1][0]]
    assert sent == ["be brief", "my name is Ada", "echo: my name is Ada", "what is my name?"]


async def test_a_failing_model_gives_a_short_message_and_keeps_the_users_text(
    app: AppHarness,
) -> None:
    app.model.then_fail(LLMUnavailable("down", status=503))
    await app.say("are you there?")
    await app.settle()
    assert app.channel.texts() == [replies.MODEL_UNAVAILABLE]
    stored = await app.memory.recent(ConversationKey("test", "1"), max_messages=10, max_tokens=999)
    assert [(m.role, m.content) for m in stored] == [(Role.USER, "are you there?")]


async def test_a_rejected_request_says_so(app: AppHarness) -> None:
    app.model.then_fail(LLMRejected("bad key", status=401))
    await app.say("hi")
    await app.settle()
    assert app.channel.texts() == [replies.MODEL_REJECTED]


async def test_an_interrupted_stream_keeps_the_partial_answer_and_says_it_was_cut(
    app: AppHarness,
) -> None:
    app.model.then_fail(StreamInterrupted("cut", partial_text="The answer is"))
    await app.say("question")
    await app.settle()
    [text] = app.channel.texts()
    assert text.startswith("The answer is") and replies.STREAM_INTERRUPTED in text


async def test_usage_is_recorded_per_request_with_reported_tokens(app: AppHarness) -> None:
    app.model.then_text("fine", prompt_tokens=120, completion_tokens=30)
    await app.say("how are you")
    await app.settle()
    totals = await app.usage.totals("test:7")
    assert (totals.requests, totals.prompt_tokens, totals.completion_tokens) == (1, 120, 30)
    assert totals.cost_usd == pytest.approx(0.15)
    await app.say("/usage")
    await app.settle()
    assert "150 tokens" in app.channel.texts()[-1]


async def test_reset_forgets_the_context(app: AppHarness) -> None:
    await app.say("remember the colour blue")
    await app.settle()
    await app.say("/reset")
    await app.settle()
    assert "forgot" in app.channel.texts()[-1]
    await app.say("what colour?")
    await app.settle()
    sent = [m.content for m in app.model.calls[-1][0]]
    assert sent == ["be brief", "what colour?"]


async def test_help_lists_commands_and_unknown_commands_get_a_hint(app: AppHarness) -> None:
    await app.say("/help")
    await app.say("/frobnicate")
    await app.settle()
    help_text, unknown = app.channel.texts()
    for command in ("/start", "/help", "/reset", "/usage"):
        assert command in help_text
    assert "/frobnicate" in unknown and "/help" in unknown
    assert app.model.calls == []


async def test_a_slow_conversation_does_not_delay_another(app: AppHarness) -> None:
    gate = asyncio.Event()
    app.model.gate = gate
    await app.say("slow one", chat_id="slow")
    await asyncio.sleep(0.01)
    app.model.gate = None
    await app.say("fast one", chat_id="fast")
    for _ in range(100):
        if app.channel.texts("fast"):
            break
        await asyncio.sleep(0.01)
    assert app.channel.texts("fast") == ["echo: fast one"]
    assert app.channel.texts("slow") == []
    gate.set()
    await app.settle()
    assert app.channel.texts("slow") == ["echo: slow one"]


async def test_messages_of_one_conversation_are_answered_in_order(app: AppHarness) -> None:
    for n in range(20):
        await app.say(f"m{n}")
    await app.settle()
    assert app.channel.texts() == [f"echo: m{n}" for n in range(20)]


async def test_history_is_bounded_by_window_and_token_budget() -> None:
    harness = build_app(history_window=3, history_token_budget=10_000)
    await harness.start()
    for n in range(5):
        await harness.say(f"message {n}")
        await harness.settle()
    sent = [m.content for m in harness.model.calls[-1][0]][1:]
    # Window 3 = the new message plus at most two stored ones, starting on a user turn.
    assert sent[-1] == "message 4"
    assert len(sent) <= 3 and harness.model.calls[-1][0][1].role is Role.USER
    await harness.stop()


SAVE_SPEC = ToolSpec(
    "save",
    "save a value",
    {
        "type": "object",
        "properties": {"value": {"type": "string", "maxLength": 20}},
        "required": ["value"],
        "additionalProperties": False,
    },
)


async def test_tool_calls_run_with_the_owner_from_the_sender_and_results_are_fed_back() -> None:
    calls: list[tuple[Mapping[str, Any], ToolContext]] = []

    async def save(arguments: Mapping[str, Any], context: ToolContext) -> str:
        calls.append((arguments, context))
        return "saved"

    harness = build_app(tools=[Tool(SAVE_SPEC, save)])
    await harness.start()
    harness.model.then_tool("save", json.dumps({"value": "4711"}))
    harness.model.then_text("I saved it.")
    await harness.say("remember 4711")
    await harness.settle()
    assert harness.channel.texts() == ["I saved it."]
    [(arguments, context)] = calls
    assert arguments == {"value": "4711"} and context.owner_id == "test:7"
    second_prompt = harness.model.calls[1][0]
    assert second_prompt[-1].role is Role.TOOL and '"saved"' in second_prompt[-1].content
    stored = await harness.memory.recent(
        ConversationKey("test", "1"), max_messages=10, max_tokens=9999
    )
    assert [m.role for m in stored] == [Role.USER, Role.ASSISTANT, Role.TOOL, Role.ASSISTANT]
    await harness.stop()


async def test_invalid_tool_arguments_go_back_to_the_model_as_an_error() -> None:
    async def save(arguments: Mapping[str, Any], context: ToolContext) -> str:
        raise AssertionError("must not run with invalid arguments")

    harness = build_app(tools=[Tool(SAVE_SPEC, save)])
    await harness.start()
    harness.model.then_tool("save", json.dumps({"value": 5, "owner_id": "someone-else"}))
    harness.model.then_text("sorry")
    await harness.say("save five")
    await harness.settle()
    result = json.loads(harness.model.calls[1][0][-1].content)
    assert result["ok"] is False and "invalid arguments" in result["error"]
    assert harness.channel.texts() == ["sorry"]
    await harness.stop()


async def test_a_slow_tool_times_out_and_the_loop_is_bounded() -> None:
    async def hang(arguments: Mapping[str, Any], context: ToolContext) -> str:
        await asyncio.sleep(30)
        return "never"

    harness = build_app(tools=[Tool(SAVE_SPEC, hang)], max_tool_iterations=2)
    await harness.start()
    for n in range(5):
        harness.model.then_tool("save", json.dumps({"value": "x"}), call_id=f"c{n}")
    harness.model.then_text("final")
    await harness.say("loop forever")
    await harness.settle()
    # Two rounds with tools, then one more request offered no tools.
    assert [bool(tools) for _, tools in harness.model.calls] == [True, True, False]
    assert "timed out" in harness.model.calls[1][0][-1].content
    await harness.stop()


async def test_streaming_publishes_growing_drafts_before_the_final_reply() -> None:
    harness = build_app(stream=True)
    await harness.start()
    harness.model.then_text("one two three")
    await harness.say("count")
    await harness.settle()
    drafts = [text for _, text in harness.channel.drafts]
    assert drafts[-1].strip() == "one two three"
    assert len(drafts) == 3 and all(b.startswith(a) for a, b in itertools.pairwise(drafts))
    assert harness.channel.texts() == ["one two three"]
    await harness.stop()


async def test_a_turn_handled_again_replays_its_stored_answer_without_asking_twice(
    app: AppHarness,
) -> None:
    conversation = ConversationKey("test", "1")
    first = await app.conversation.run_turn(conversation, "hello", owner_id="o", turn_id="t-1")
    again = await app.conversation.run_turn(conversation, "hello", owner_id="o", turn_id="t-1")
    assert first.text == again.text == "echo: hello"
    assert len(app.model.calls) == 1
    stored = await app.memory.recent(conversation, max_messages=10, max_tokens=999)
    assert [m.content for m in stored] == ["hello", "echo: hello"]


async def test_a_failed_turn_handled_again_asks_once_more_without_storing_the_text_twice(
    app: AppHarness,
) -> None:
    conversation = ConversationKey("test", "1")
    app.model.then_fail(LLMUnavailable("down"))
    await app.conversation.run_turn(conversation, "hello", owner_id="o", turn_id="t-2")
    retried = await app.conversation.run_turn(conversation, "hello", owner_id="o", turn_id="t-2")
    assert retried.text == "echo: hello"
    assert [m.content for m in app.model.calls[1][0]] == ["be brief", "hello"]
    stored = await app.memory.recent(conversation, max_messages=10, max_tokens=999)
    assert [m.content for m in stored] == ["hello", "echo: hello"]
