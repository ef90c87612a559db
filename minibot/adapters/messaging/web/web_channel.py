"""The web channel: messages typed on the dashboard's chat page, answered on that page."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from minibot.adapters.messaging.web.web_parser import CHANNEL, WebMessage, WebParser, WebPress
from minibot.adapters.messaging.web.web_sender import OnShown, Shown, WebSender
from minibot.app.channels.allowlist import Allowlist
from minibot.app.channels.channel_intake import ChannelIntake
from minibot.app.channels.chat_throttle import ChatThrottle
from minibot.app.channels.reply_delivery import ReplyDelivery
from minibot.core.conversation import ConversationKey
from minibot.core.health import Health, HealthBoard
from minibot.core.messages import OutgoingMessage
from minibot.core.ports.bus import Bus
from minibot.core.ports.delivery_ledger import DeliveryLedger
from minibot.core.ports.inbox import Inbox

log = logging.getLogger(__name__)

# At stop, how long a chunk being shown and recorded may take to finish.
_SEND_GRACE_SECONDS = 5.0


class WebChannel:
    """The dashboard's chat, through the same intake as any channel (the allowlist: the
    logged-in owner only; the durable inbox, keyed by the page's message id, so a message
    posted twice is answered once) and the same ledgered delivery. Replies and streamed
    drafts reach the page through `on_shown` (the control plane's live feed); the last
    replies are kept for a page opened later (`transcript`)."""

    name = CHANNEL

    def __init__(
        self,
        bus: Bus,
        inbox: Inbox,
        ledger: DeliveryLedger,
        *,
        user_id: str,
        on_shown: OnShown | None = None,
        allowed_user_ids: Iterable[str] | None = None,
        sender: WebSender | None = None,
    ) -> None:
        self._parser = WebParser(user_id)
        # A sender may be handed over (tests): its transcript outlives this channel.
        self._sender = sender or WebSender(on_shown)
        self._health = HealthBoard()
        self._throttle = ChatThrottle(1, HealthBoard(), platform=CHANNEL)
        self._delivery = ReplyDelivery(
            channel=CHANNEL,
            sender=self._sender,
            throttle=self._throttle,
            ledger=ledger,
            inbox=inbox,
        )
        allowed = [user_id] if allowed_user_ids is None else list(allowed_user_ids)
        self.intake = ChannelIntake(
            channel=CHANNEL,
            parser=self._parser,
            sender=self._sender,
            allowlist=Allowlist(allowed, ()),
            inbox=inbox,
            bus=bus,
            notify=self._delivery.notify,
        )
        self._open = False

    @property
    def conversation(self) -> ConversationKey:
        """The logged-in owner's conversation."""
        return self._parser.conversation

    @property
    def health(self) -> Health:
        return self._health.health

    @property
    def accepting(self) -> bool:
        return self._open

    async def start(self) -> None:
        self._open = True
        self._health.started()
        await self.intake.republish_pending()

    async def receive(self, message_id: str, text: str | bytes) -> None:
        """Takes one message from the page; durably stored once this returns."""
        await self.intake.handle(WebMessage(message_id, text))

    async def press(self, message_id: str, action: str) -> bool:
        """Takes a press on a button of a message still shown (False if there is no such
        button); stored in the inbox once this returns, published as `ButtonPressed`
        once however often it is pressed."""
        if not self._sender.has_button(self.conversation, message_id, action):
            return False
        await self.intake.handle(WebPress(message_id, action))
        return True

    def transcript(self) -> list[Shown]:
        return self._sender.transcript(self.conversation)

    async def close_intake(self) -> None:
        self._open = False
        self._throttle.drain()

    async def stop(self) -> None:
        self._open = False
        self._throttle.close()
        await self._delivery.close(_SEND_GRACE_SECONDS)
        self._health.stopped()

    async def deliver(self, reply: OutgoingMessage) -> None:
        await self._delivery.deliver(reply)

    async def show_draft(self, conversation: ConversationKey, turn_id: str, text: str) -> None:
        self._sender.show_draft(conversation, turn_id, text)

    async def show_typing(self, conversation: ConversationKey) -> None:
        pass
