"""The one token estimate, for when a provider reports no usage and for history budgets."""

from __future__ import annotations

from collections.abc import Sequence

from minibot.core.conversation import ChatMessage, ToolCall
from minibot.core.llm import TokenUsage

# About four characters per token for English text with common tokenizers: good enough to
# bound a history window, never used for billing when the provider reports usage.
CHARS_PER_TOKEN = 4

# Per-message framing the chat APIs add around each message (role, separators).
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def message_tokens(message: ChatMessage) -> int:
    """The message's own estimate, or one from its text and tool calls when it has none."""
    if message.token_estimate > 0:
        return message.token_estimate
    calls = "".join(c.name + c.arguments for c in message.tool_calls)
    return MESSAGE_OVERHEAD_TOKENS + estimate_tokens(message.content + calls)


def estimate_usage(
    messages: Sequence[ChatMessage], text: str, tool_calls: Sequence[ToolCall] = ()
) -> TokenUsage:
    """Usage for an answer whose provider reported none, marked as estimated."""
    prompt = "".join(m.content + "".join(c.arguments for c in m.tool_calls) for m in messages)
    completion = text + "".join(c.name + c.arguments for c in tool_calls)
    return TokenUsage(estimate_tokens(prompt), estimate_tokens(completion), estimated=True)
