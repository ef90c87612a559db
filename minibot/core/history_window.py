"""Choosing the slice of a conversation's history that is sent to the model."""

from __future__ import annotations

from collections.abc import Sequence

from minibot.core.conversation import ChatMessage, Role
from minibot.core.tokens import message_tokens


def select_window(
    newest_first: Sequence[ChatMessage], *, max_messages: int, max_tokens: int
) -> list[ChatMessage]:
    """The newest messages within both budgets, oldest first, starting on a user message.

    Cutting only in front of a user message keeps every assistant tool call together with
    its tool results, which follow it before the next user message.
    """
    kept: list[ChatMessage] = []
    tokens = 0
    for message in newest_first[: max(max_messages, 0)]:
        tokens += message_tokens(message)
        if tokens > max_tokens:
            break
        kept.append(message)
    kept.reverse()
    for index, message in enumerate(kept):
        if message.role == Role.USER:
            return kept[index:]
    return []
