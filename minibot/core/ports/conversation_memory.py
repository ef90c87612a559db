"""Port: the stored history of each conversation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from minibot.core.conversation import ChatMessage, ConversationKey


class ConversationMemory(Protocol):
    """Keeps every message of every conversation, in order.

    `append` stores a batch atomically, in the given order. `recent` returns at most
    `max_messages` of the newest messages whose token estimates sum to at most
    `max_tokens`, oldest first, and always starting on a user message (an empty list when
    there is none). `clear` forgets a conversation's context: later `recent` calls return
    only what was appended after it; it returns how many messages were dropped.
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def append(
        self, conversation: ConversationKey, messages: Sequence[ChatMessage]
    ) -> None: ...

    async def recent(
        self, conversation: ConversationKey, *, max_messages: int, max_tokens: int
    ) -> list[ChatMessage]: ...

    async def clear(self, conversation: ConversationKey) -> int: ...
