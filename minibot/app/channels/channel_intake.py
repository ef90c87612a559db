"""What happens to each update on any channel: allowlist, durable inbox, then the bus."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from minibot.app.channels import notices
from minibot.app.channels.allowlist import Allowlist, refusal_text
from minibot.core.channel_update import ChannelUpdate, Ignored, Parsed, Unreadable
from minibot.core.conversation import ConversationKey
from minibot.core.delivery import TurnRef
from minibot.core.errors import StoreUnavailable
from minibot.core.events import DuplicateIgnored
from minibot.core.messages import OutgoingMessage
from minibot.core.ports.bus import Bus
from minibot.core.ports.channel_sender import PressAnswerer
from minibot.core.ports.inbox import Inbox, InboxEntry
from minibot.core.ports.tracer import AttributeValue, Tracer
from minibot.core.ports.update_parser import UpdateParser
from minibot.core.tracing import NO_TRACER
from minibot.shared.correlation import correlated

log = logging.getLogger(__name__)

Notify = Callable[[OutgoingMessage], Awaitable[None]]
Handled = Callable[[Any], None]
Stored = Callable[[ChannelUpdate, TurnRef], None]


def _ignore(raw: Any) -> None:
    return None


class ChannelIntake:
    """Handles a channel's raw updates. The allowlist comes before anything else: a
    refused sender is told their ids (once per interval) and nothing is stored or
    published. An accepted text message or press is written to the inbox before it is
    reported handled (only then may the platform be told it arrived), and then published;
    a duplicate (already in the inbox) is dropped.

    An update the inbox refuses (anything but the store being down), or one the parser
    cannot read, is set aside as a dead letter (its bytes and the reason, logged once at
    ERROR), its sender told when known, and it counts as handled: one poison update never
    holds up the others. Handling raises only when the inbox cannot store at all
    (`StoreUnavailable`, or the dead letter failing too); then each chat waiting is told
    so once per outage (a notice that stores nothing first).

    `stored`, when given, is told the turn of each update stored (or republished) just
    before it is published: the reply to it will carry that `TurnRef`.

    Each stored update opens a trace: a `message.receive` span from before the inbox
    write (with an `inbox.store` event once written) to its publication; everything
    done for it downstream is a descendant. A duplicate is published as `DuplicateIgnored`."""

    def __init__(
        self,
        *,
        channel: str,
        parser: UpdateParser,
        sender: PressAnswerer,
        allowlist: Allowlist,
        inbox: Inbox,
        bus: Bus,
        notify: Notify,
        stored: Stored | None = None,
        tracer: Tracer = NO_TRACER,
        accepts_media: bool = False,
    ) -> None:
        self._channel = channel
        self._tracer = tracer
        # Whether messages carrying a file (voice, photo, document) are taken in; if not
        # they are told that only text is read, as any other kind is.
        self._accepts_media = accepts_media
        self._stored = stored
        self._parser = parser
        self._sender = sender
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
            await self._set_aside(Unreadable(notices.reason(error), body), None)
        await self.durable()

    async def durable(self) -> None:
        """Returns once every update stored so far survives a power loss too."""
        await self._inbox.sync()

    async def handle_batch(self, raws: Sequence[Any], handled: Handled) -> None:
        """Handles a batch (getUpdates) in order. Messages and presses to store that
        follow one another are stored in one inbox write, then published in order;
        anything else first lets the ones before it through. `handled(raw)` is called, in
        order, for each update once it is stored, deliberately dropped or set aside: only
        those may be confirmed. Raises when the inbox cannot store at all (the updates not
        reported are to be asked for again)."""
        waiting: list[tuple[Any, ChannelUpdate]] = []
        for raw in raws:
            # One correlation id per update: the bus carries it on to the dispatcher and
            # the delivery, so every line about this update shares it.
            with correlated(None):
                parsed = self._parse(raw)
                if isinstance(parsed, ChannelUpdate) and self._storable(parsed):
                    waiting.append((raw, parsed))
                    continue
                await self._store(waiting, handled)
                waiting = []
                await self._act_on(parsed)
            handled(raw)
        await self._store(waiting, handled)

    async def republish_pending(self) -> int:
        """Publish again every inbox item left unanswered by an earlier run."""
        items = await self._inbox.pending(self._channel)
        for item in items:
            with correlated(None):
                update = self._parser.parse_stored(item.payload)
                if update is None:
                    await self._inbox.mark_done(item.id)
                    continue
                log.info(
                    f"{self._channel} pending update republished",
                    extra={
                        "update_id": update.platform_id,
                        "chat_id": update.conversation.chat_id,
                    },
                )
                self._announce(update, item.id)
                with self._tracer.span("message.republish", {"channel": self._channel}):
                    await self._bus.publish(update.to_event(item.id))
        if items:
            log.info(f"{self._channel} pending updates republished", extra={"count": len(items)})
        return len(items)

    def _parse(self, raw: Any) -> Parsed:
        try:
            return self._parser.parse(raw)
        except Exception as exc:
            log.exception(f"{self._channel} update could not be read")
            return self._parser.unreadable(raw, notices.reason(exc))

    def _admits(self, update: ChannelUpdate) -> bool:
        return self._allowlist.admits(update.sender.user_id, update.conversation.chat_id)

    def _storable(self, update: ChannelUpdate) -> bool:
        """An admitted text message (or one with a file, when media is on) addressed to
        the bot, or an admitted press."""
        if update.is_press:
            return self._admits(update)
        has_file = update.media is not None
        readable = self._accepts_media if has_file else update.text is not None
        return readable and update.addressed and self._admits(update)

    async def _act_on(self, parsed: Parsed) -> None:
        """Anything not stored: skipped, refused, told why, or set aside."""
        if isinstance(parsed, Unreadable):
            # Kept once, told once: a platform may serve it again and again meanwhile.
            await self._set_aside(parsed, None)
        elif isinstance(parsed, Ignored):
            log.warning(
                f"{self._channel} update skipped",
                extra={"update_id": parsed.platform_id, "reason": parsed.reason},
            )
        elif parsed.is_press:
            self._log_refused(parsed)
            await self._sender.answer_press(parsed, self._refusal(parsed))
        else:
            await self._turn_away(parsed)

    async def _turn_away(self, update: ChannelUpdate) -> None:
        if not update.addressed:
            return
        user_id, chat_id = update.sender.user_id, update.conversation.chat_id
        if not self._admits(update):
            self._log_refused(update)
            if self._allowlist.should_refuse(user_id, chat_id):
                await self._notify(self._notice(update, self._refusal(update), "refused"))
            return
        await self._notify(self._notice(update, notices.ONLY_TEXT, "not-text"))

    def _log_refused(self, update: ChannelUpdate) -> None:
        log.warning(
            f"{self._channel} sender refused",
            extra={"user_id": update.sender.user_id, "chat_id": update.conversation.chat_id},
        )

    def _refusal(self, update: ChannelUpdate) -> str:
        shown = self._parser.shown_ids(update.sender.user_id, update.conversation.chat_id)
        return refusal_text(shown)

    async def _store(self, waiting: list[tuple[Any, ChannelUpdate]], handled: Handled) -> None:
        """Stores the updates in one inbox write, then reports and publishes each. When
        the write is refused, one of them is bad: each is written on its own instead."""
        if not waiting:
            return
        started_ns = time.time_ns()
        try:
            entries = [_entry(update) for _, update in waiting]
            inbox_ids = await self._inbox.add_many(self._channel, entries)
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
                await self._received(update, inbox_id, started_ns)

    async def _store_one_by_one(
        self, waiting: list[tuple[Any, ChannelUpdate]], handled: Handled
    ) -> None:
        for raw, update in waiting:
            with correlated(None):
                started_ns = time.time_ns()
                try:
                    [inbox_id] = await self._inbox.add_many(self._channel, [_entry(update)])
                except StoreUnavailable:
                    await self._tell_store_down([(raw, update)])
                    raise
                except Exception as exc:
                    dead = self._parser.unreadable(raw, notices.reason(exc))
                    await self._set_aside(dead, update)
                    handled(raw)
                    continue
                handled(raw)
                await self._received(update, inbox_id, started_ns)

    async def _received(self, update: ChannelUpdate, inbox_id: int | None, started_ns: int) -> None:
        """Publishes a stored update in its own trace, which began before the inbox write."""
        attributes: dict[str, AttributeValue] = {
            "channel": self._channel,
            "update_id": update.platform_id,
        }
        if self._tracer.include_content and update.text is not None:
            attributes["text"] = update.text
        with self._tracer.span("message.receive", attributes, start_ns=started_ns) as span:
            # An event, not a child span: the write is over (the receive span began before
            # it), and a span more per message is a fifth of tracing's cost.
            span.event("inbox.store", {"duplicate": inbox_id is None})
            await self._publish(update, inbox_id)

    async def _tell_store_down(self, waiting: list[tuple[Any, ChannelUpdate]]) -> None:
        """One notice per chat per outage: the platform sends again and again meanwhile."""
        for _, update in waiting:
            chat = str(update.conversation)
            if not update.is_press and chat not in self._told_store_down:
                self._told_store_down.add(chat)
                await self._notify(self._notice(update, notices.STORAGE_DOWN_TEXT, "store-down"))

    async def _publish(self, update: ChannelUpdate, inbox_id: int | None) -> None:
        if inbox_id is None:
            log.info(
                f"{self._channel} duplicate update ignored",
                extra={"update_id": update.platform_id},
            )
            await self._bus.publish(DuplicateIgnored(self._channel))
            return
        log.info(
            f"{self._channel} update stored",
            extra={
                "update_id": update.platform_id,
                "chat_id": update.conversation.chat_id,
                "inbox_id": inbox_id,
            },
        )
        if update.is_press:
            await self._sender.answer_press(update, None)
        self._announce(update, inbox_id)
        await self._bus.publish(update.to_event(inbox_id))

    def _announce(self, update: ChannelUpdate, inbox_id: int) -> None:
        if self._stored is not None:
            self._stored(update, TurnRef.of_inbox(update.conversation, inbox_id))

    async def _set_aside(self, dead: Unreadable, update: ChannelUpdate | None) -> None:
        """Keeps the update as a dead letter and tells its sender, once. Raises when the
        dead letter cannot be kept either: then the update must not be confirmed."""
        if not await self._inbox.set_aside(self._channel, dead.raw, dead.reason):
            log.debug(f"{self._channel} update set aside before", extra={"bytes": len(dead.raw)})
            return
        log.error(
            f"{self._channel} update set aside",
            extra={
                "update_id": None if update is None else update.platform_id,
                "chat_id": None if update is None else update.conversation.chat_id,
                "bytes": len(dead.raw),
                "error": dead.reason,
            },
        )
        if update is not None and update.is_press:
            await self._sender.answer_press(update, notices.SET_ASIDE_TEXT)
        elif update is not None:
            await self._notify(self._notice(update, notices.SET_ASIDE_TEXT, "set-aside"))
        elif self._unreadable_sender_admitted(dead):
            assert dead.conversation is not None
            turn_id = f"{dead.conversation}#x{notices.digest(dead.raw)}-set-aside"
            await self._notify(OutgoingMessage(dead.conversation, notices.SET_ASIDE_TEXT, turn_id))

    def _unreadable_sender_admitted(self, dead: Unreadable) -> bool:
        conversation: ConversationKey | None = dead.conversation
        if conversation is None or dead.sender_id is None:
            return False
        return self._allowlist.admits(dead.sender_id, conversation.chat_id)

    def _notice(self, update: ChannelUpdate, text: str, kind: str) -> OutgoingMessage:
        # A turn id per update: a redelivered update does not get its notice twice.
        return OutgoingMessage(
            update.conversation,
            text,
            turn_id=f"{update.conversation}#u{update.platform_id}-{kind}",
            reply_to_message_id=update.message_id,
        )


def _entry(update: ChannelUpdate) -> InboxEntry:
    return InboxEntry(update.platform_id, str(update.conversation), update.payload)
