"""The one token estimate and the history-window rule built on it."""

from __future__ import annotations

from minibot.core.conversation import ChatMessage, Role, ToolCall
from minibot.core.history_window import select_window
from minibot.core.tokens import (
    MESSAGE_OVERHEAD_TOKENS,
    estimate_tokens,
    estimate_usage,
    message_tokens,
)


def test_about_four_characters_make_a_token() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2


def test_a_message_counts_its_tool_calls_and_framing_unless_it_carries_an_estimate() -> None:
    call = ToolCall("c1", "save_note", '{"title": "x"}')
    message = ChatMessage(Role.ASSISTANT, "ok", tool_calls=(call,))
    expected = MESSAGE_OVERHEAD_TOKENS + estimate_tokens("ok" + call.name + call.arguments)
    assert message_tokens(message) == expected
    assert message_tokens(ChatMessage(Role.USER, "long text", token_estimate=99)) == 99


def test_an_estimated_usage_is_marked_estimated() -> None:
    usage = estimate_usage([ChatMessage(Role.USER, "a" * 40)], "b" * 8)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.estimated) == (10, 2, True)


def test_the_window_keeps_the_newest_within_budget_and_starts_on_a_user_message() -> None:
    newest_first = [
        ChatMessage(Role.ASSISTANT, "a3", token_estimate=10),
        ChatMessage(Role.USER, "u3", token_estimate=10),
        ChatMessage(Role.ASSISTANT, "a2", token_estimate=10),
        ChatMessage(Role.USER, "u2", token_estimate=10),
    ]
    window = select_window(newest_first, max_messages=10, max_tokens=30)
    assert [m.content for m in window] == ["u3", "a3"]
    window = select_window(newest_first, max_messages=10, max_tokens=100)
    assert [m.content for m in window] == ["u2", "a2", "u3", "a3"]
    assert select_window(newest_first, max_messages=1, max_tokens=100) == []
