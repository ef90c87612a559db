"""A rough token count for when the provider reports none (about four characters a token)."""

from __future__ import annotations

from collections.abc import Sequence

from minibot.core.conversation import ChatMessage, ToolCall
from minibot.core.llm import TokenUsage

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def estimate_usage(
    messages: Sequence[ChatMessage], text: str, tool_calls: Sequence[ToolCall]
) -> TokenUsage:
    prompt = "".join(m.content + "".join(c.arguments for c in m.tool_calls) for m in messages)
    completion = text + "".join(c.name + c.arguments for c in tool_calls)
    return TokenUsage(estimate_tokens(prompt), estimate_tokens(completion), estimated=True)
