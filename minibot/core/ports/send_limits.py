"""Port: the platform's sending limits, shared by every process sending for one bot."""

from __future__ import annotations

from typing import Protocol


class SendLimits(Protocol):
    """How fast one bot may send, across all its replicas.

    `acquire(chat_id)` waits until one message may go to `chat_id`: no pause of that
    chat or of the whole bot is running, and the bot's global rate leaves room (each
    acquire takes one send from it, so N processes together stay within it).
    `pause(chat_id, seconds)` records a 429's `retry_after`, for `chat_id` or, with "",
    for the whole bot, and every process honours it; a pause is only lengthened, never
    shortened. Neither raises when the shared store is away: the limits then fall back
    to conservative ones of this process, and say so in the log."""

    async def acquire(self, chat_id: str) -> None: ...

    async def pause(self, chat_id: str, seconds: float) -> None: ...
