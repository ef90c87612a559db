"""Carries out the commands that reach a person, through the channel they belong to."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from minibot.app.lanes import KeyedLanes, LanedService
from minibot.core.commands import SendReply, ShowDraft, ShowTyping
from minibot.core.conversation import ConversationKey
from minibot.core.errors import ChannelStopped, DeliveryRefused
from minibot.core.messages import OutgoingMessage
from minibot.core.ports.bus import Bus
from minibot.core.ports.channel import Channel

log = logging.getLogger(__name__)


class ReplyRouter(LanedService):
    """Handles the commands that reach a person (send a reply, show a draft, show typing):
    each conversation's in order, through its channel, while different conversations
    deliver concurrently. A command for a channel that is not running is logged and
    dropped."""

    name = "reply-router"

    def __init__(self, bus: Bus, channels: Iterable[Channel], *, max_concurrent: int) -> None:
        self._channels = {channel.name: channel for channel in channels}
        self._lanes = KeyedLanes(
            "delivery", max_concurrent=max_concurrent, max_pending=max_concurrent * 8
        )
        # Inline: the handlers only hand the command to the delivery lanes.
        bus.subscribe(SendReply, self._on_reply, name="reply-router", inline=True)
        bus.subscribe(ShowDraft, self._on_draft, name="draft-router", inline=True)
        bus.subscribe(ShowTyping, self._on_typing, name="typing-router", inline=True)

    async def _on_reply(self, command: SendReply) -> None:
        reply = command.reply
        await self._submit(reply.conversation, lambda channel: _deliver(channel, reply))

    async def _on_draft(self, command: ShowDraft) -> None:
        await self._submit(
            command.conversation,
            lambda channel: channel.show_draft(command.conversation, command.turn_id, command.text),
        )

    async def _on_typing(self, command: ShowTyping) -> None:
        await self._submit(
            command.conversation, lambda channel: channel.show_typing(command.conversation)
        )

    async def _submit(
        self, conversation: ConversationKey, work: Callable[[Channel], Awaitable[None]]
    ) -> None:
        channel = self._channels.get(conversation.channel)
        if channel is None:
            log.warning("no channel for reply", extra={"conversation": str(conversation)})
            return
        await self._lanes.submit(conversation, lambda: work(channel))


async def _deliver(channel: Channel, reply: OutgoingMessage) -> None:
    try:
        await channel.deliver(reply)
    except ChannelStopped:
        # Its inbox item is still open: the restart delivers the stored answer.
        log.info("reply left for the restart", extra={"turn_id": reply.turn_id})
    except DeliveryRefused:
        pass  # the channel logged it at ERROR and recorded it as failed
