"""Routes replies, drafts and typing signals from the bus to the channel they belong to."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from minibot.app.event_bus import EventBus
from minibot.app.lanes import KeyedLanes, LanedService
from minibot.core.errors import ChannelStopped, DeliveryRefused
from minibot.core.events import Event, ReplyDraft, ReplyReady, TypingStarted
from minibot.core.ports.channel import Channel

log = logging.getLogger(__name__)


class ReplyRouter(LanedService):
    """Delivers each conversation's outgoing events in order, through its channel, while
    different conversations deliver concurrently. A reply for a channel that is not
    running is logged and dropped."""

    name = "reply-router"

    def __init__(self, bus: EventBus, channels: Iterable[Channel], *, max_concurrent: int) -> None:
        self._channels = {channel.name: channel for channel in channels}
        self._lanes = KeyedLanes(
            "delivery", max_concurrent=max_concurrent, max_pending=max_concurrent * 8
        )
        # Inline: the handler only hands the event to the delivery lanes.
        bus.subscribe(Event, self._on_event, name="reply-router", inline=True)

    async def _on_event(self, event: Event) -> None:
        if isinstance(event, ReplyReady):
            conversation = event.reply.conversation
        elif isinstance(event, (ReplyDraft, TypingStarted)):
            conversation = event.conversation
        else:
            return
        channel = self._channels.get(conversation.channel)
        if channel is None:
            log.warning("no channel for reply", extra={"conversation": str(conversation)})
            return
        await self._lanes.submit(conversation, lambda: _send(channel, event))


async def _send(channel: Channel, event: Event) -> None:
    if isinstance(event, ReplyReady):
        try:
            await channel.deliver(event.reply)
        except ChannelStopped:
            # Its inbox item is still open: the restart delivers the stored answer.
            log.info("reply left for the restart", extra={"turn_id": event.reply.turn_id})
        except DeliveryRefused:
            pass  # the channel logged it at ERROR and recorded it as failed
    elif isinstance(event, ReplyDraft):
        await channel.show_draft(event.conversation, event.turn_id, event.text)
    elif isinstance(event, TypingStarted):
        await channel.show_typing(event.conversation)
