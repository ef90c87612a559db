"""Port: each conversation's own settings, kept across restarts."""

from __future__ import annotations

from typing import Protocol

from minibot.core.conversation import ConversationKey
from minibot.core.conversation_settings import ConversationSettings


class ConversationSettingsStore(Protocol):
    """`get` returns `NO_SETTINGS` for a conversation that chose nothing. `put` replaces
    the conversation's settings whole; a later `get` (in any process sharing the store)
    returns them."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def get(self, conversation: ConversationKey) -> ConversationSettings: ...

    async def put(self, conversation: ConversationKey, settings: ConversationSettings) -> None: ...
