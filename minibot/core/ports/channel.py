"""Port: a messaging channel (Telegram, console, ...) that people talk through."""

from __future__ import annotations

from typing import Protocol

from minibot.core.conversation import ConversationKey
from minibot.core.messages import OutgoingMessage


class Channel(Protocol):
    """Receives people's messages (publishing `MessageReceived` on the bus) and delivers
    replies. `deliver` is idempotent per (turn_id, chunk): delivering the same reply twice
    shows it once. Delivery of one conversation's replies keeps their order. `deliver`
    waits out rate limits and passing trouble; it raises `DeliveryRefused` for a reply
    given up for good (logged at ERROR and recorded as failed by the channel) and
    `ChannelStopped` for one the stop cut short (left for the restart)."""

    @property
    def name(self) -> str: ...

    async def start(self) -> None: ...

    async def close_intake(self) -> None:
        """Stop receiving new messages; delivery goes on until `stop`."""
        ...

    async def stop(self) -> None: ...

    async def deliver(self, reply: OutgoingMessage) -> None: ...

    async def show_draft(self, conversation: ConversationKey, turn_id: str, text: str) -> None: ...

    async def show_typing(self, conversation: ConversationKey) -> None: ...
