"""What happens to each update: allowlist, group rules, durable inbox, then the bus."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot

from minibot.adapters.messaging.telegram.allowlist import Allowlist, refusal_text
from minibot.adapters.messaging.telegram.api_errors import describe
from minibot.adapters.messaging.telegram.update_mapper import (
    CHANNEL,
    ButtonUpdate,
    MessageUpdate,
    Skipped,
    UpdateMapper,
)
from minibot.app.event_bus import EventBus
from minibot.core.events import ButtonPressed, MessageReceived
from minibot.core.messages import OutgoingMessage, Sender
from minibot.core.ports.inbox import Inbox
from minibot.shared.correlation import correlated

log = logging.getLogger(__name__)

ONLY_TEXT = "I can only read text messages for now. Please send your message as text."

Notify = Callable[[OutgoingMessage], Awaitable[None]]


class UpdateIntake:
    """Handles one raw update. The allowlist comes before anything else: a refused
    sender is told their ids once and nothing is stored or published. An accepted text
    message is written to the inbox before `handle` returns, and only then may the
    update be confirmed to Telegram; a duplicate (already in the inbox) is dropped.
    `handle` raises only when the inbox cannot store the update."""

    def __init__(
        self,
        *,
        bot: Bot,
        mapper: UpdateMapper,
        allowlist: Allowlist,
        inbox: Inbox,
        bus: EventBus,
        notify: Notify,
    ) -> None:
        self._bot = bot
        self._mapper = mapper
        self._allowlist = allowlist
        self._inbox = inbox
        self._bus = bus
        self._notify = notify

    async def handle(self, raw: Any) -> None:
        # One correlation id per update: the bus carries it on to the dispatcher and the
        # delivery, so every line about this update shares it.
        with correlated(None):
            await self._handle(raw)

    async def _handle(self, raw: Any) -> None:
        try:
            parsed = self._mapper.parse(raw)
        except Exception:
            log.exception("telegram update could not be read")
            return
        if isinstance(parsed, Skipped):
            log.warning(
                "telegram update skipped",
                extra={"update_id": parsed.update_id, "reason": parsed.reason},
            )
        elif isinstance(parsed, ButtonUpdate):
            await self._press(parsed)
        else:
            await self._message(parsed, raw)

    async def republish_pending(self) -> int:
        """Publish again every inbox item left unanswered by an earlier run."""
        items = await self._inbox.pending(CHANNEL)
        for item in items:
            with correlated(None):
                parsed = self._mapper.parse(json.loads(item.payload))
                if not isinstance(parsed, MessageUpdate):
                    await self._inbox.mark_done(item.id)
                    continue
                log.info(
                    "telegram pending update republished",
                    extra={"update_id": parsed.update_id, "chat_id": parsed.chat_id},
                )
                await self._bus.publish(MessageReceived(parsed.to_incoming(item.id)))
        if items:
            log.info("telegram pending updates republished", extra={"count": len(items)})
        return len(items)

    async def _message(self, update: MessageUpdate, raw: Any) -> None:
        if update.in_group and not update.addressed:
            return
        if not self._allowlist.admits(update.user_id, update.chat_id):
            log.warning(
                "telegram sender refused",
                extra={"user_id": update.user_id, "chat_id": update.chat_id},
            )
            if self._allowlist.should_refuse(update.user_id, update.chat_id):
                text = refusal_text(update.user_id, update.chat_id)
                await self._notify(self._notice(update, text, "refused"))
            return
        if update.text is None:
            await self._notify(self._notice(update, ONLY_TEXT, "not-text"))
            return
        payload = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
        inbox_id = await self._inbox.add(
            CHANNEL, str(update.update_id), str(update.conversation), payload
        )
        if inbox_id is None:
            log.info("telegram duplicate update ignored", extra={"update_id": update.update_id})
            return
        log.info(
            "telegram update stored",
            extra={"update_id": update.update_id, "chat_id": update.chat_id, "inbox_id": inbox_id},
        )
        await self._bus.publish(MessageReceived(update.to_incoming(inbox_id)))

    def _notice(self, update: MessageUpdate, text: str, kind: str) -> OutgoingMessage:
        # A turn id per update: a redelivered update does not get its notice twice.
        return OutgoingMessage(
            update.conversation,
            text,
            turn_id=f"{update.conversation}#u{update.update_id}-{kind}",
            reply_to_message_id=str(update.message_id),
        )

    async def _press(self, button: ButtonUpdate) -> None:
        admitted = self._allowlist.admits(button.user_id, button.chat_id)
        if not admitted:
            log.warning(
                "telegram sender refused",
                extra={"user_id": button.user_id, "chat_id": button.chat_id},
            )
        try:
            # Telegram shows a spinner on the button until the query is answered.
            await self._bot.answer_callback_query(
                button.query_id,
                text=None if admitted else refusal_text(button.user_id, button.chat_id),
            )
        except Exception as exc:
            log.warning("telegram button not acknowledged", extra={"error": describe(exc)})
        if admitted:
            sender = Sender(CHANNEL, str(button.user_id), button.display_name)
            await self._bus.publish(ButtonPressed(button.conversation, sender, button.action))
