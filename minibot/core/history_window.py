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


def split_overflow(
    oldest_first: Sequence[ChatMessage],
    *,
    summarized_through_id: int,
    max_messages: int,
    max_tokens: int,
) -> tuple[list[ChatMessage], list[ChatMessage]]:
    """(older, window): `window` is what `select_window` keeps; `older` the messages in
    front of it that no summary covers yet (stored ids above `summarized_through_id`),
    oldest first: what must be summarized so nothing is cut silently."""
    window = select_window(
        list(reversed(oldest_first)), max_messages=max_messages, max_tokens=max_tokens
    )
    first_kept = _stored_id(window[0]) if window else None
    older = [
        m
        for m in oldest_first
        if _stored_id(m) > summarized_through_id
        and (first_kept is None or _stored_id(m) < first_kept)
    ]
    return older, window


def _stored_id(message: ChatMessage) -> int:
    # Stores give every message they return its row id (`meta["message_id"]`).
    return int(message.meta.get("message_id", "0"))
