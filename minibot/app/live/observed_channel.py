"""A channel seen by the live feed: each reply it delivers is reported as sent."""

from __future__ import annotations

from minibot.app.live.live_feed import LiveFeed
from minibot.core.conversation import ConversationKey
from minibot.core.messages import OutgoingMessage
from minibot.core.ports.channel import Channel


class ObservedChannel:
    """Wraps a channel for the reply router only (the daemon still runs the channel
    itself): a reply delivered, or refused, becomes a `reply_sent` / `reply_failed`
    event; drafts and typing pass straight through."""

    def __init__(self, inner: Channel, feed: LiveFeed) -> None:
        self._inner = inner
        self._feed = feed

    @property
    def name(self) -> str:
        return self._inner.name

    async def start(self) -> None:
        await self._inner.start()

    async def close_intake(self) -> None:
        await self._inner.close_intake()

    async def stop(self) -> None:
        await self._inner.stop()

    async def deliver(self, reply: OutgoingMessage) -> None:
        data = {"conversation": str(reply.conversation), "turn_id": reply.turn_id}
        try:
            await self._inner.deliver(reply)
        except Exception as exc:
            self._feed.emit("reply_failed", {**data, "error": type(exc).__name__})
            raise
        self._feed.emit("reply_sent", data, reply.text)

    async def show_draft(self, conversation: ConversationKey, turn_id: str, text: str) -> None:
        await self._inner.show_draft(conversation, turn_id, text)

    async def show_typing(self, conversation: ConversationKey) -> None:
        await self._inner.show_typing(conversation)
