"""The web channel: messages typed on the dashboard's chat page, answered on that page."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from minibot.adapters.messaging.web.web_media import WebMediaShelf
from minibot.adapters.messaging.web.web_parser import CHANNEL, WebMessage, WebParser, WebPress
from minibot.adapters.messaging.web.web_sender import OnShown, Shown, WebSender
from minibot.adapters.messaging.web.web_uploads import WebUploads
from minibot.app.channels.allowlist import Allowlist
from minibot.app.channels.channel_intake import ChannelIntake
from minibot.app.channels.chat_throttle import ChatThrottle
from minibot.app.channels.reply_delivery import ReplyDelivery
from minibot.core.channel_update import ChannelUpdate
from minibot.core.conversation import ConversationKey
from minibot.core.delivery import TurnRef
from minibot.core.errors import MediaServiceFailed
from minibot.core.health import Health, HealthBoard
from minibot.core.media import MediaAttachment
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
    replies are kept for a page opened later (`transcript`).

    With `uploads` the page may post files too (`receive_file`: a recording, a photo, a
    document): the file is written to `uploads` first, the inbox keeps its id, and the
    channel is the `MediaSource` the turn reads it from (`fetch`), again after a crash.
    Once the turn's answer is delivered the file is deleted; at start, files no open
    inbox item names are. Voice notes and pictures minibot sends are kept on the
    sender's `shelf` for the page to show."""

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
        uploads: WebUploads | None = None,
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
            stored=self._stored,
            accepts_media=uploads is not None,
        )
        self._uploads = uploads
        # The upload each open inbox item reads, to delete once its answer is out.
        self._upload_of: dict[int, str] = {}
        self._open = False

    @property
    def conversation(self) -> ConversationKey:
        """The logged-in owner's conversation."""
        return self._parser.conversation

    @property
    def accepts_files(self) -> bool:
        return self._uploads is not None

    @property
    def shelf(self) -> WebMediaShelf:
        """The voice notes and pictures minibot sent here, for the page to fetch."""
        return self._sender.shelf

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
        if self._uploads is not None:
            # Only the items just republished still need their files.
            gone = await self._uploads.sweep(self._upload_of.values())
            if gone:
                log.info("web uploads no message needs deleted", extra={"count": gone})

    async def receive(self, message_id: str, text: str | bytes) -> None:
        """Takes one message from the page; durably stored once this returns."""
        await self.intake.handle(WebMessage(message_id, text))

    async def receive_file(
        self, message_id: str, caption: str, attachment: MediaAttachment, data: bytes
    ) -> None:
        """Takes one file from the page (`attachment.file_id` is ignored: the upload's id
        is made here); stored on disk and in the inbox once this returns. A message id
        seen before is answered once, and the second copy of its file is dropped."""
        if self._uploads is None:
            raise MediaServiceFailed("files are not taken on this chat")
        upload_id = self._uploads.new_id()
        await self._uploads.save(upload_id, data)
        media = dataclasses.replace(attachment, file_id=upload_id)
        try:
            await self.intake.handle(WebMessage(message_id, caption, media))
        finally:
            if upload_id not in self._upload_of.values():
                # Not stored (a duplicate, or set aside): no turn will read it.
                await self._uploads.delete(upload_id)

    async def fetch(self, attachment: MediaAttachment, *, max_bytes: int) -> bytes:
        """`MediaSource`: the file the page posted, read back from the uploads."""
        if self._uploads is None:
            raise MediaServiceFailed("files are not taken on this chat")
        return await self._uploads.read(attachment.file_id, max_bytes=max_bytes)

    def _stored(self, update: ChannelUpdate, turn: TurnRef) -> None:
        if update.media is not None and turn.inbox_id is not None:
            self._upload_of[turn.inbox_id] = update.media.file_id

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
        inbox_id = reply.turn.inbox_id
        if inbox_id is not None and inbox_id in self._upload_of and self._uploads is not None:
            # Answered: the inbox item is done, no turn reads this file again.
            await self._uploads.delete(self._upload_of.pop(inbox_id))

    async def show_draft(self, conversation: ConversationKey, turn_id: str, text: str) -> None:
        self._sender.show_draft(conversation, turn_id, text)

    async def show_typing(self, conversation: ConversationKey) -> None:
        pass
