"""Port: each conversation's own settings, kept across restarts."""

from __future__ import annotations

from typing import Protocol

from minibot.core.conversation import ConversationKey
from minibot.core.conversation_settings import BusyPolicy, ConversationSettings


class ConversationSettingsStore(Protocol):
    """`get` returns `NO_SETTINGS` for a conversation that chose nothing. `put` replaces
    the conversation's settings whole; a later `get` (in any process sharing the store)
    returns them. `busy_policy` is the conversation's own busy policy (None: it chose
    none), asked before every turn: answered from memory after the store's first answer."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def get(self, conversation: ConversationKey) -> ConversationSettings: ...

    async def put(self, conversation: ConversationKey, settings: ConversationSettings) -> None: ...

    async def busy_policy(self, conversation: ConversationKey) -> BusyPolicy | None: ...
