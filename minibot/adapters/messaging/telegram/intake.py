"""What happens to each update: allowlist, group rules, durable inbox, then the bus."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiogram import Bot

from minibot.adapters.messaging.telegram import dead_letter
from minibot.adapters.messaging.telegram.allowlist import Allowlist, refusal_text
from minibot.adapters.messaging.telegram.api_errors import call_api
from minibot.adapters.messaging.telegram.update_mapper import (
    CHANNEL,
    ButtonUpdate,
    MessageUpdate,
    Parsed,
    Skipped,
    UpdateMapper,
)
from minibot.core.conversation import ConversationKey
from minibot.core.errors import ChannelError, StoreUnavailable
from minibot.core.events import ButtonPressed, MessageReceived
from minibot.core.messages import OutgoingMessage, Sender
from minibot.core.ports.bus import Bus
from minibot.core.ports.inbox import Inbox, InboxEntry
from minibot.shared import fast_json
from minibot.shared.correlation import correlated

log = logging.getLogger(__name__)

ONLY_TEXT = "I can only read text messages for now. Please send your message as text."
STORAGE_DOWN_TEXT = (
    "I can't save messages right now (storage is full or unavailable); I'll answer when it's back."
)

Notify = Callable[[OutgoingMessage], Awaitable[None]]
Handled = Callable[[Any], None]
Storable = MessageUpdate | ButtonUpdate


def _ignore(raw: Any) -> None:
    return None


class UpdateIntake:
    """Handles raw updates. The allowlist comes before anything else: a refused sender
    is told their ids once and nothing is stored or published. An accepted text message
    is written to the inbox before it is reported handled, and only then may the update
    be confirmed to Telegram; a duplicate (already in the inbox) is dropped.

    An update the inbox refuses (anything but the store being down), or one whose id no
    offset can move past, is set aside as a dead letter (its bytes and the reason,
    logged once at ERROR), its sender told when their chat is known, and it counts as
    handled: one poison update never holds up the others. Handling raises only when the
    inbox cannot store at all (`StoreUnavailable`, or the dead letter failing too); then
    each chat waiting is told so once per outage (a notice that stores nothing first)."""

    def __init__(
        self,
        *,
        bot: Bot,
        mapper: UpdateMapper,
        allowlist: Allowlist,
        inbox: Inbox,
        bus: Bus,
        notify: Notify,
    ) -> None:
        self._bot = bot
        self._mapper = mapper
        self._allowlist = allowlist
        self._inbox = inbox
        self._bus = bus
        self._notify = notify
        # Chats told that nothing can be stored, until a store succeeds again.
        self._told_store_down: set[str] = set()

    async def handle(self, raw: Any) -> None:
        """Handles one update (a webhook call), durably once this returns."""
        await self.handle_batch([raw], _ignore)
        await self.durable()

    async def set_aside_body(self, body: bytes, error: str) -> None:
        """Keeps a delivery that is not even an update (a webhook body that is not JSON)."""
        with correlated(None):
            await self._set_aside(body, dead_letter.reason(error), None, None)
        await self.durable()

    async def durable(self) -> None:
        """Returns once every update stored so far survives a power loss too."""
        await self._inbox.sync()

    async def handle_batch(self, raws: Sequence[Any], handled: Handled) -> None:
        """Handles a getUpdates batch in order. Text messages and button presses that
        follow one another are stored in one inbox write, then published in order;
        anything else first lets the ones before it through. `handled(raw)` is called, in
        order, for each update once it is stored, deliberately dropped or set aside: only
        those may be confirmed. Raises when the inbox cannot store at all (the updates not
        reported are to be asked for again).
        """
        waiting: list[tuple[Any, Storable]] = []
        for raw in raws:
            # One correlation id per update: the bus carries it on to the dispatcher and
            # the delivery, so every line about this update shares it.
            with correlated(None):
                parsed = self._parse(raw)
                storable = self._storable(parsed)
                if storable is not None:
                    waiting.append((raw, storable))
                    continue
                await self._store(waiting, handled)
                waiting = []
                await self._act_on(raw, parsed)
            handled(raw)
        await self._store(waiting, handled)

    def _parse(self, raw: Any) -> Parsed:
        try:
            return self._mapper.parse(raw)
        except Exception as exc:
            log.exception("telegram update could not be read")
            # Unread, it is set aside like an update whose id cannot be confirmed.
            return Skipped(None, dead_letter.reason(exc))

    def _storable(self, parsed: Parsed) -> Storable | None:
        """An admitted text message or button press (what goes to the inbox), else None."""
        if isinstance(parsed, MessageUpdate) and self._admitted_text(parsed):
            return parsed
        if isinstance(parsed, ButtonUpdate) and self._allowlist.admits(
            parsed.user_id, parsed.chat_id
        ):
            return parsed
        return None

    async def _act_on(self, raw: Any, parsed: Parsed) -> None:
        """Anything not stored: skipped, refused, told why, or set aside."""
        if isinstance(parsed, Skipped) and parsed.update_id is None:
            # Without an id an offset can move past, Telegram serves it again and again:
            # kept once, told once; the poller backs off while it keeps coming.
            body = dead_letter.raw_bytes(raw)
            await self._set_aside(body, parsed.reason, None, dead_letter.sender_of(raw))
        elif isinstance(parsed, Skipped):
            log.warning(
                "telegram update skipped",
                extra={"update_id": parsed.update_id, "reason": parsed.reason},
            )
        elif isinstance(parsed, ButtonUpdate):
            await self._refuse_press(parsed)
        elif isinstance(parsed, MessageUpdate):
            await self._turn_away(parsed)

    async def republish_pending(self) -> int:
        """Publish again every inbox item left unanswered by an earlier run."""
        items = await self._inbox.pending(CHANNEL)
        for item in items:
            with correlated(None):
                parsed = self._mapper.parse(fast_json.loads(item.payload))
                if not isinstance(parsed, MessageUpdate | ButtonUpdate):
                    await self._inbox.mark_done(item.id)
                    continue
                log.info(
                    "telegram pending update republished",
                    extra={"update_id": parsed.update_id, "chat_id": parsed.chat_id},
                )
                await self._bus.publish(_event(parsed, item.id))
        if items:
            log.info("telegram pending updates republished", extra={"count": len(items)})
        return len(items)

    def _admitted_text(self, update: MessageUpdate) -> bool:
        """A text message addressed to the bot by an allowed sender: the kind stored."""
        return (
            update.text is not None
            and update.addressed
            and self._allowlist.admits(update.user_id, update.chat_id)
        )

    async def _turn_away(self, update: MessageUpdate) -> None:
        if not update.addressed:
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
        await self._notify(self._notice(update, ONLY_TEXT, "not-text"))

    async def _store(self, waiting: list[tuple[Any, Storable]], handled: Handled) -> None:
        """Stores the updates in one inbox write, then reports and publishes each. When
        the write is refused, one of them is bad: each is written on its own instead."""
        if not waiting:
            return
        try:
            entries = [_entry(raw, update) for raw, update in waiting]
            inbox_ids = await self._inbox.add_many(CHANNEL, entries)
        except StoreUnavailable:
            await self._tell_store_down(waiting)
            raise
        except Exception:
            await self._store_one_by_one(waiting, handled)
            return
        self._told_store_down.clear()
        for (raw, update), inbox_id in zip(waiting, inbox_ids, strict=True):
            handled(raw)
            with correlated(None):
                await self._publish(update, inbox_id)

    async def _store_one_by_one(
        self, waiting: list[tuple[Any, Storable]], handled: Handled
    ) -> None:
        for raw, update in waiting:
            with correlated(None):
                try:
                    [inbox_id] = await self._inbox.add_many(CHANNEL, [_entry(raw, update)])
                except StoreUnavailable:
                    await self._tell_store_down([(raw, update)])
                    raise
                except Exception as exc:
                    body = dead_letter.raw_bytes(raw)
                    await self._set_aside(body, dead_letter.reason(exc), update, None)
                    handled(raw)
                    continue
                handled(raw)
                await self._publish(update, inbox_id)

    async def _tell_store_down(self, waiting: list[tuple[Any, Storable]]) -> None:
        """One notice per chat per outage: Telegram asks again and again meanwhile."""
        for _, update in waiting:
            chat = str(update.conversation)
            if isinstance(update, MessageUpdate) and chat not in self._told_store_down:
                self._told_store_down.add(chat)
                await self._notify(self._notice(update, STORAGE_DOWN_TEXT, "store-down"))

    async def _publish(self, update: Storable, inbox_id: int | None) -> None:
        if inbox_id is None:
            log.info("telegram duplicate update ignored", extra={"update_id": update.update_id})
            return
        log.info(
            "telegram update stored",
            extra={"update_id": update.update_id, "chat_id": update.chat_id, "inbox_id": inbox_id},
        )
        if isinstance(update, ButtonUpdate):
            await self._acknowledge(update, None)
        await self._bus.publish(_event(update, inbox_id))

    async def _set_aside(
        self,
        body: bytes,
        reason: str,
        update: Storable | None,
        sender: tuple[int, int] | None,
    ) -> None:
        """Keeps the update as a dead letter and tells its sender, once. Raises when the
        dead letter cannot be kept either: then the update must not be confirmed."""
        if not await self._inbox.set_aside(CHANNEL, body, reason):
            log.debug("telegram update set aside before", extra={"bytes": len(body)})
            return
        log.error(
            "telegram update set aside",
            extra={
                "update_id": None if update is None else update.update_id,
                "chat_id": None if update is None else update.chat_id,
                "bytes": len(body),
                "error": reason,
            },
        )
        if isinstance(update, ButtonUpdate):
            await self._acknowledge(update, dead_letter.SET_ASIDE_TEXT)
        elif isinstance(update, MessageUpdate):
            await self._notify(self._notice(update, dead_letter.SET_ASIDE_TEXT, "set-aside"))
        elif sender is not None and self._allowlist.admits(sender[1], sender[0]):
            conversation = ConversationKey(CHANNEL, str(sender[0]))
            turn_id = f"{conversation}#x{dead_letter.digest(body)}-set-aside"
            await self._notify(OutgoingMessage(conversation, dead_letter.SET_ASIDE_TEXT, turn_id))

    def _notice(self, update: MessageUpdate, text: str, kind: str) -> OutgoingMessage:
        # A turn id per update: a redelivered update does not get its notice twice.
        return OutgoingMessage(
            update.conversation,
            text,
            turn_id=f"{update.conversation}#u{update.update_id}-{kind}",
            reply_to_message_id=str(update.message_id),
        )

    async def _refuse_press(self, button: ButtonUpdate) -> None:
        log.warning(
            "telegram sender refused",
            extra={"user_id": button.user_id, "chat_id": button.chat_id},
        )
        await self._acknowledge(button, refusal_text(button.user_id, button.chat_id))

    async def _acknowledge(self, button: ButtonUpdate, text: str | None) -> None:
        try:
            # Telegram shows a spinner on the button until the query is answered.
            await call_api(
                str(button.chat_id),
                lambda: self._bot.answer_callback_query(button.query_id, text=text),
            )
        except ChannelError as exc:
            log.warning("telegram button not acknowledged", extra={"error": str(exc)})


def _entry(raw: Any, update: Storable) -> InboxEntry:
    return InboxEntry(str(update.update_id), str(update.conversation), fast_json.dumps(raw))


def _event(update: Storable, inbox_id: int) -> MessageReceived | ButtonPressed:
    if isinstance(update, MessageUpdate):
        return MessageReceived(update.to_incoming(inbox_id))
    sender = Sender(CHANNEL, str(update.user_id), update.display_name)
    return ButtonPressed(update.conversation, sender, update.action, inbox_id=inbox_id)
