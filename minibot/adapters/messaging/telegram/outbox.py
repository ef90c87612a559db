"""Delivers replies to Telegram: split, rendered, in order per chat, never twice."""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters

from minibot.adapters.messaging.telegram.chat_throttle import ChatThrottle
from minibot.adapters.messaging.telegram.drafts import DraftEditor
from minibot.adapters.messaging.telegram.lean_methods import SendMessageForId
from minibot.adapters.messaging.telegram.markdown import render_html, split_markdown
from minibot.core.errors import (
    ChannelStopped,
    DeliveryRefused,
    FormattingRejected,
    MessageGone,
    NotModified,
)
from minibot.core.messages import Button, OutgoingMessage
from minibot.core.ports.delivery_ledger import DeliveryLedger
from minibot.core.ports.inbox import Inbox

log = logging.getLogger(__name__)

_BUTTONS_PER_ROW = 2


class Outbox:
    """Sends each reply as chunks of at most 4096 characters, rendered as HTML with the
    Markdown source as plain-text fallback. Before a chunk is sent the ledger is asked
    whether it was sent already; after, it is recorded, so a retried or resumed reply
    continues at its first unsent chunk. A streamed reply's draft message becomes its
    first chunk. Once the whole reply is out, its inbox item is marked done.

    A reply waits out rate limits, transient errors and a refused token (`ChatThrottle`);
    one Telegram refuses for good is given up: logged at ERROR, recorded as failed in the
    ledger, its inbox item marked done, and `DeliveryRefused` raised. One cut short by a
    stop raises `ChannelStopped` and keeps its inbox item open for the restart."""

    def __init__(
        self,
        bot: Bot,
        throttle: ChatThrottle,
        drafts: DraftEditor,
        ledger: DeliveryLedger,
        inbox: Inbox,
    ) -> None:
        self._bot = bot
        self._throttle = throttle
        self._drafts = drafts
        self._ledger = ledger
        self._inbox = inbox
        self._sending: set[asyncio.Task[None]] = set()
        self._closed = False

    async def deliver(self, reply: OutgoingMessage) -> None:
        chat_id = reply.conversation.chat_id
        chunks = split_markdown(reply.text)
        draft_message_id = await self._drafts.finish(reply.turn_id)
        try:
            async with self._throttle.lane(chat_id):
                await self._send_chunks(reply, chunks, draft_message_id)
        except DeliveryRefused as exc:
            # A refusal (blocked by the user, chat gone, bad request) will not heal on
            # retry: the reply is given up, and its inbox item with it.
            reason = str(exc)
            log.error(
                "telegram reply given up",
                extra={"chat_id": chat_id, "turn_id": reply.turn_id, "error": reason},
            )
            await self._record_failure(reply, reason)
            await self._mark_done(reply)
            raise
        await self._mark_done(reply)

    async def _send_chunks(
        self, reply: OutgoingMessage, chunks: list[str], draft_message_id: int | None
    ) -> None:
        chat_id = reply.conversation.chat_id
        sent = await self._ledger.sent(reply.turn_id)
        for number, chunk in enumerate(chunks):
            markup = _keyboard(reply.buttons) if number == len(chunks) - 1 else None
            if number == 0 and draft_message_id is not None:
                if await self._edit(chat_id, draft_message_id, chunk, markup):
                    continue
            elif number in sent:
                continue
            if self._closed:
                # Stopped: nothing new goes out; the reply's inbox item brings it back.
                raise ChannelStopped("the telegram channel is stopped", chat_id=chat_id)
            reply_to = reply.reply_to_message_id if number == 0 else None
            sending = asyncio.create_task(
                self._send_and_record(reply.turn_id, number, chat_id, chunk, markup, reply_to)
            )
            self._sending.add(sending)
            sending.add_done_callback(self._sent)
            # A chunk once begun is sent and recorded even if the reply is cancelled (a
            # stop): cut off between Telegram taking it and the record, a restart would
            # send it again. `close` waits for these.
            await asyncio.shield(sending)

    async def _send_and_record(
        self,
        turn_id: str,
        number: int,
        chat_id: str,
        chunk: str,
        markup: InlineKeyboardMarkup | None,
        reply_to: str | None,
    ) -> None:
        message_id = await self.send(chat_id, chunk, markup=markup, reply_to=reply_to)
        await self._ledger.record(turn_id, number, str(message_id))

    def _sent(self, sending: asyncio.Task[None]) -> None:
        self._sending.discard(sending)
        if not sending.cancelled():
            # Read here, so the error of a chunk whose reply was cancelled (a stop cut it
            # short while it waited on a rate limit) is not reported as never retrieved.
            sending.exception()

    async def close(self, timeout_seconds: float) -> None:
        """Refuses new chunks, and waits (up to `timeout_seconds`) for those still being
        sent and recorded."""
        self._closed = True
        if self._sending:
            await asyncio.wait(set(self._sending), timeout=timeout_seconds)

    async def _record_failure(self, reply: OutgoingMessage, reason: str) -> None:
        try:
            await asyncio.shield(self._ledger.record_failure(reply.turn_id, reason))
        except Exception as exc:
            # Logged above at ERROR already; the record is what a later look would find.
            log.warning(
                "failed reply not recorded", extra={"turn_id": reply.turn_id, "error": repr(exc)}
            )

    async def _mark_done(self, reply: OutgoingMessage) -> None:
        if reply.source_inbox_id is None:
            return
        try:
            await asyncio.shield(self._inbox.mark_done(reply.source_inbox_id))
        except Exception as exc:
            # The reply is out; a run that finds the item open replays it without sending.
            log.warning(
                "inbox item not marked done",
                extra={"inbox_id": reply.source_inbox_id, "error": repr(exc)},
            )

    async def send(
        self,
        chat_id: str,
        markdown: str,
        *,
        markup: InlineKeyboardMarkup | None = None,
        reply_to: str | None = None,
    ) -> int:
        """Send one chunk (caller holds the chat's lane); returns its message id."""
        parameters = (
            ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True)
            if reply_to and reply_to.isdigit()
            else None
        )

        async def attempt(text: str, parse_mode: str | None) -> int:
            sent = await self._throttle.call(
                chat_id,
                lambda: self._bot(
                    SendMessageForId(
                        chat_id=int(chat_id),
                        text=text,
                        parse_mode=parse_mode,
                        reply_markup=markup,
                        reply_parameters=parameters,
                    )
                ),
            )
            return sent.message_id

        try:
            return await attempt(render_html(markdown), "HTML")
        except FormattingRejected as exc:
            log.warning("telegram refused the HTML, sending plain text", extra={"error": str(exc)})
            return await attempt(markdown, None)

    async def _edit(
        self, chat_id: str, message_id: int, markdown: str, markup: InlineKeyboardMarkup | None
    ) -> bool:
        """Edit a message into `markdown`; False when the message is gone."""

        async def attempt(text: str, parse_mode: str | None) -> None:
            await self._throttle.call(
                chat_id,
                lambda: self._bot.edit_message_text(
                    chat_id=int(chat_id),
                    message_id=message_id,
                    text=text,
                    parse_mode=parse_mode,
                    reply_markup=markup,
                ),
            )

        try:
            try:
                await attempt(render_html(markdown), "HTML")
            except FormattingRejected:
                await attempt(markdown, None)
        except NotModified:
            return True
        except MessageGone:
            return False
        return True


def _keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    keys = [InlineKeyboardButton(text=b.label, callback_data=b.action) for b in buttons]
    rows = [keys[i : i + _BUTTONS_PER_ROW] for i in range(0, len(keys), _BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(inline_keyboard=rows)
