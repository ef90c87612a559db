"""Messages said over the API: into the durable inbox like any channel's, then on the bus."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from minibot.app.channels.allowlist import Allowlist
from minibot.app.channels.channel_intake import ChannelIntake
from minibot.core.channel_update import ChannelUpdate, Parsed, Unreadable
from minibot.core.conversation import ConversationKey
from minibot.core.messages import OutgoingMessage, Sender
from minibot.core.ports.bus import Bus
from minibot.core.ports.inbox import Inbox
from minibot.shared import fast_json

# The inbox's name for what the API says: its items are republished by this intake, and
# each is marked done by the delivery of the conversation's own channel.
INBOX_CHANNEL = "api"


@dataclass(frozen=True, slots=True)
class SaidMessage:
    """`POST /api/v1/conversations/{key}/messages`: `text` said as the chat's own user.
    `message_id` is the client's (or one made for it): the inbox keys it per
    conversation, so a retried POST with the same id is answered once."""

    conversation: ConversationKey
    message_id: str
    text: str


class SaidParser:
    """The `UpdateParser` of what the API says: the sender is the chat's own user (the
    owner of a private chat), named "control plane"."""

    def parse(self, raw: Any) -> Parsed:
        said: SaidMessage = raw
        return _update(said.conversation, said.message_id, said.text, datetime.now(UTC))

    def parse_stored(self, payload: str) -> ChannelUpdate | None:
        stored = fast_json.loads(payload)
        return _update(
            ConversationKey.parse(str(stored["conversation"])),
            str(stored["id"]),
            str(stored["text"]),
            datetime.fromisoformat(str(stored["at"])),
        )

    def unreadable(self, raw: Any, reason: str) -> Unreadable:
        said: SaidMessage = raw
        return Unreadable(reason, said.text.encode("utf-8", "replace"))

    def shown_ids(self, user_id: str, chat_id: str) -> str:
        return f"user id {user_id!r} (chat id {chat_id!r})"


def _update(
    conversation: ConversationKey, message_id: str, text: str, at: datetime
) -> ChannelUpdate:
    payload = {"conversation": str(conversation), "id": message_id, "text": text}
    return ChannelUpdate(
        platform_id=f"{conversation}#{message_id}",
        conversation=conversation,
        sender=Sender(conversation.channel, conversation.chat_id, "control plane"),
        payload=fast_json.dumps({**payload, "at": at.isoformat()}),
        received_at=at,
        text=text,
        message_id=message_id,
    )


class _NoPresses:
    """The API says messages only; nothing is ever pressed through it."""

    async def answer_press(self, update: ChannelUpdate, notice: str | None) -> None:
        return None


async def _tell_no_one(message: OutgoingMessage) -> None:
    # The API's caller hears of a failure in the HTTP answer (503), not in the chat.
    return None


class ApiIntake:
    """What the API says goes through the shared `ChannelIntake` under the inbox name
    `api`: stored (durably) before the HTTP answer, a duplicate (same conversation and
    message id) dropped, then published; the answer goes out through the conversation's
    own channel, whose delivery ledger records it and marks the item done. Whoever
    holds the token speaks for the chat, so every sender is admitted.
    `republish_pending` hands on what a run stopped before answering."""

    def __init__(self, bus: Bus, inbox: Inbox) -> None:
        self._intake = ChannelIntake(
            channel=INBOX_CHANNEL,
            parser=SaidParser(),
            sender=_NoPresses(),
            allowlist=Allowlist((), (), open_mode=True),
            inbox=inbox,
            bus=bus,
            notify=_tell_no_one,
        )
        self._open = False

    @property
    def accepting(self) -> bool:
        """From `republish_pending` (at start) until `close` (the daemon's intake closes)."""
        return self._open

    def close(self) -> None:
        self._open = False

    async def say(self, conversation: ConversationKey, message_id: str, text: str) -> None:
        """Stores the message (raises `StoreUnavailable` when it cannot) and publishes it."""
        await self._intake.handle(SaidMessage(conversation, message_id, text))

    async def republish_pending(self) -> int:
        count = await self._intake.republish_pending()
        self._open = True
        return count
