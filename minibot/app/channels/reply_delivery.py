"""Delivers replies on any channel: split, rendered, in order per chat, never twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from minibot.app.channels.chat_throttle import ChatThrottle
from minibot.core.conversation import ConversationKey
from minibot.core.delivery import DeliveryKey, TurnRef
from minibot.core.errors import (
    ChannelStopped,
    DeliveryRefused,
    FormattingRejected,
    MessageGone,
    NotModified,
)
from minibot.core.events import ReplyDelivered
from minibot.core.media import OutgoingMedia
from minibot.core.messages import Button, OutgoingMessage
from minibot.core.ports.bus import Publish
from minibot.core.ports.channel_sender import ChannelSender, MediaSender
from minibot.core.ports.delivery_ledger import DeliveryLedger
from minibot.core.ports.inbox import Inbox
from minibot.core.ports.tracer import Tracer
from minibot.core.tracing import NO_TRACER

log = logging.getLogger(__name__)


class ReplyDelivery:
    """Sends each reply as the chunks its channel's `split` makes, each `render`ed, with
    the Markdown source as plain-text fallback when the platform rejects the formatting.
    Before a chunk is sent the ledger is asked whether it was sent already, and the chunk
    is claimed in it (another replica delivering the same turn, its bus message given
    again, sends it at most once: a chunk sent by the other is skipped, one the other
    holds is waited for); after, it is recorded (`DeliveryKey`: turn, chunk), so a
    retried or resumed reply continues at its first unsent chunk. A streamed reply's
    draft message becomes its first chunk. Once the whole reply is out, the inbox item
    of its `TurnRef` is marked done.

    A reply waits out rate limits, transient errors and a refused token (`ChatThrottle`,
    which also keeps each chat's replies in order); one the platform refuses for good is
    given up: logged at ERROR, recorded as failed in the ledger, its inbox item marked
    done, and `DeliveryRefused` raised. One cut short by a stop raises `ChannelStopped`
    and keeps its inbox item open for the restart.

    A reply wholly out is published as `ReplyDelivered` when `publish` is given; each
    chunk sent is a span of `tracer`."""

    def __init__(
        self,
        *,
        channel: str,
        sender: ChannelSender,
        throttle: ChatThrottle,
        ledger: DeliveryLedger,
        inbox: Inbox,
        publish: Publish | None = None,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self._channel = channel
        self._publish = publish
        self._tracer = tracer
        self._sender = sender
        self._throttle = throttle
        self._ledger = ledger
        self._inbox = inbox
        self._sending: set[asyncio.Task[None]] = set()
        self._notices: set[asyncio.Task[None]] = set()
        self._closed = False

    async def notify(self, notice: OutgoingMessage) -> None:
        """Sends a notice (a refusal, "storage is full") beside intake, never holding it up:
        a slow or rate-limited chat delays only the notice, and a failed one is logged."""
        task = asyncio.create_task(self._send_notice(notice))
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    async def _send_notice(self, notice: OutgoingMessage) -> None:
        try:
            await self.deliver(notice)
        except Exception as exc:
            log.warning(f"{self._channel} notice not delivered", extra={"error": repr(exc)})

    async def deliver(self, reply: OutgoingMessage) -> None:
        chunks = await self._deliver(reply)
        if self._publish is not None:
            await self._publish(ReplyDelivered(reply.conversation, reply.turn.turn_id, chunks))

    async def _deliver(self, reply: OutgoingMessage) -> int:
        turn = reply.turn
        chat_id = reply.conversation.chat_id
        # A voice note or photo may go out alone, with no text beside it.
        chunks = [] if reply.media and not reply.text.strip() else self._sender.split(reply.text)
        draft_message_id = await self._sender.take_draft(turn.turn_id)
        try:
            async with self._throttle.lane(chat_id):
                await self._send_chunks(reply, chunks, draft_message_id)
        except DeliveryRefused as exc:
            # A refusal (blocked by the user, chat gone, bad request) will not heal on
            # retry: the reply is given up, and its inbox item with it.
            reason = str(exc)
            log.error(
                f"{self._channel} reply given up",
                extra={"chat_id": chat_id, "turn_id": turn.turn_id, "error": reason},
            )
            await self._record_failure(turn, reason)
            await self._mark_done(turn)
            raise
        await self._mark_done(turn)
        return len(chunks)

    async def _send_chunks(
        self, reply: OutgoingMessage, chunks: list[str], draft_message_id: str | None
    ) -> None:
        turn = reply.turn
        sent = await self._ledger.sent(turn.turn_id)
        for number, media in enumerate(reply.media):
            key = turn.media(number)
            if key.chunk in sent:
                continue
            self._check_open(reply)
            if not await self._claim(key):
                continue
            reply_to = reply.reply_to_message_id if number == 0 else None
            await self._shielded(
                self._send_media_and_record(key, reply.conversation, media, reply_to)
            )
        for number, chunk in enumerate(chunks):
            buttons = reply.buttons if number == len(chunks) - 1 else ()
            if number == 0 and draft_message_id is not None:
                if await self._edit(reply.conversation, draft_message_id, chunk, buttons):
                    continue
            elif number in sent:
                continue
            self._check_open(reply)
            if not await self._claim(turn.chunk(number)):
                continue
            reply_to = reply.reply_to_message_id if number == 0 and not reply.media else None
            await self._shielded(
                self._send_and_record(
                    turn.chunk(number), reply.conversation, chunk, buttons, reply_to
                )
            )

    async def _claim(self, key: DeliveryKey) -> bool:
        """True once this sender holds the chunk; False when another has sent it."""
        while True:
            claim = await self._ledger.claim(key.turn_id, key.chunk)
            if claim.won:
                return True
            if claim.message_id is not None:
                log.info(
                    f"{self._channel} chunk sent already by another sender",
                    extra={"turn_id": key.turn_id, "chunk": key.chunk},
                )
                return False
            # Another sender holds it: sent in a moment, or its lease lapses.
            await asyncio.sleep(claim.wait_seconds)

    def _check_open(self, reply: OutgoingMessage) -> None:
        if self._closed:
            # Stopped: nothing new goes out; the reply's inbox item brings it back.
            raise ChannelStopped(
                f"the {self._channel} channel is stopped", chat_id=reply.conversation.chat_id
            )

    async def _shielded(self, work: Coroutine[Any, Any, None]) -> None:
        sending = asyncio.create_task(work)
        self._sending.add(sending)
        sending.add_done_callback(self._sent)
        # A chunk once begun is sent and recorded even if the reply is cancelled (a
        # stop): cut off between the platform taking it and the record, a restart
        # would send it again. `close` waits for these.
        await asyncio.shield(sending)

    async def _send_media_and_record(
        self,
        key: DeliveryKey,
        conversation: ConversationKey,
        media: OutgoingMedia,
        reply_to: str | None,
    ) -> None:
        message_id = await self._send_media(conversation, media, reply_to)
        await self._ledger.record(key.turn_id, key.chunk, message_id)

    async def _send_media(
        self, conversation: ConversationKey, media: OutgoingMedia, reply_to: str | None
    ) -> str:
        """The media, or its fallback text where the channel cannot send media or the
        platform refuses this one (a user who blocks voice notes): never nothing."""
        sender = self._sender
        if isinstance(sender, MediaSender):
            try:
                return await self._throttle.call(
                    conversation.chat_id,
                    lambda: sender.send_media(conversation, media, reply_to=reply_to),
                )
            except DeliveryRefused as exc:
                log.warning(
                    f"{self._channel} refused the {media.kind}, sending its text",
                    extra={"error": str(exc)},
                )
        if not media.fallback_text:
            return ""  # its text goes out beside it anyway
        return await self.send(conversation, media.fallback_text[: self._sender.max_chunk_chars])

    async def _send_and_record(
        self,
        key: DeliveryKey,
        conversation: ConversationKey,
        chunk: str,
        buttons: tuple[Button, ...],
        reply_to: str | None,
    ) -> None:
        attributes: dict[str, str | int] = {"channel": self._channel, "chunk": key.chunk}
        if self._tracer.include_content:
            attributes["text"] = chunk
        with self._tracer.span("chunk.send", attributes):
            message_id = await self.send(conversation, chunk, buttons=buttons, reply_to=reply_to)
        await self._ledger.record(key.turn_id, key.chunk, message_id)

    def _sent(self, sending: asyncio.Task[None]) -> None:
        self._sending.discard(sending)
        if not sending.cancelled():
            # Read here, so the error of a chunk whose reply was cancelled (a stop cut it
            # short while it waited on a rate limit) is not reported as never retrieved.
            sending.exception()

    async def close(self, timeout_seconds: float) -> None:
        """Refuses new chunks, and waits (up to `timeout_seconds`) for those still being
        sent and recorded, and for notices on their way."""
        self._closed = True
        waiting = self._sending | self._notices
        if waiting:
            await asyncio.wait(waiting, timeout=timeout_seconds)

    async def _record_failure(self, turn: TurnRef, reason: str) -> None:
        try:
            await asyncio.shield(self._ledger.record_failure(turn.turn_id, reason))
        except Exception as exc:
            # Logged above at ERROR already; the record is what a later look would find.
            log.warning(
                "failed reply not recorded", extra={"turn_id": turn.turn_id, "error": repr(exc)}
            )

    async def _mark_done(self, turn: TurnRef) -> None:
        if turn.inbox_id is None:
            return
        try:
            await asyncio.shield(self._inbox.mark_done(turn.inbox_id))
        except Exception as exc:
            # The reply is out; a run that finds the item open replays it without sending.
            log.warning(
                "inbox item not marked done",
                extra={"inbox_id": turn.inbox_id, "error": repr(exc)},
            )

    async def send(
        self,
        conversation: ConversationKey,
        markdown: str,
        *,
        buttons: tuple[Button, ...] = (),
        reply_to: str | None = None,
    ) -> str:
        """Send one chunk (caller holds the chat's lane); returns its message id."""
        sender, chat_id = self._sender, conversation.chat_id
        try:
            rendered = sender.render(markdown)
            return await self._throttle.call(
                chat_id,
                lambda: sender.send_chunk(
                    conversation, rendered, formatted=True, buttons=buttons, reply_to=reply_to
                ),
            )
        except FormattingRejected as exc:
            log.warning(
                f"{self._channel} refused the formatting, sending plain text",
                extra={"error": str(exc)},
            )
            return await self._throttle.call(
                chat_id,
                lambda: sender.send_chunk(
                    conversation, markdown, formatted=False, buttons=buttons, reply_to=reply_to
                ),
            )

    async def _edit(
        self,
        conversation: ConversationKey,
        message_id: str,
        markdown: str,
        buttons: tuple[Button, ...],
    ) -> bool:
        """Edit a message into `markdown`; False when the message is gone."""
        sender, chat_id = self._sender, conversation.chat_id

        async def attempt(text: str, formatted: bool) -> None:
            await self._throttle.call(
                chat_id,
                lambda: sender.edit_chunk(
                    conversation, message_id, text, formatted=formatted, buttons=buttons
                ),
            )

        try:
            try:
                await attempt(sender.render(markdown), True)
            except FormattingRejected:
                await attempt(markdown, False)
        except NotModified:
            return True
        except MessageGone:
            return False
        return True
