"""What crosses a channel: a message in from a person, a reply out to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from minibot.core.conversation import ConversationKey
from minibot.core.delivery import TurnRef
from minibot.core.media import MediaAttachment, OutgoingMedia


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote a message, as the channel identifies them."""

    channel: str
    user_id: str
    display_name: str = ""

    @property
    def identity(self) -> str:
        """The default owner id of this person's data, e.g. `telegram:123`."""
        return f"{self.channel}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A text a person sent; `inbox_id` is set when a durable inbox holds it.
    `in_group`: several people share the conversation (a group chat). `forwarded`: the
    text is someone else's words passed on (a forward), untrusted like a fetched page.
    `media`: the file sent with it (a voice note, a photo, a document), not yet
    downloaded; `text` is then its caption."""

    conversation: ConversationKey
    sender: Sender
    text: str
    received_at: datetime
    message_id: str | None = None
    inbox_id: int | None = None
    in_group: bool = False
    forwarded: bool = False
    media: MediaAttachment | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button; `action` comes back as a `ButtonPressed` event."""

    label: str
    action: str


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A reply to deliver. Its `turn` (`core/delivery.TurnRef`: `turn_id` and
    `source_inbox_id`) ties it to what it answers: `turn_id` + chunk number make delivery
    idempotent, and the inbox item is marked done once the whole reply is delivered, so a
    crash before that re-handles it. `media` (a voice note, a photo) is sent before the
    text; an empty `text` sends the media alone.
    """

    conversation: ConversationKey
    text: str
    turn_id: str
    buttons: tuple[Button, ...] = field(default=())
    reply_to_message_id: str | None = None
    source_inbox_id: int | None = None
    media: tuple[OutgoingMedia, ...] = ()

    @classmethod
    def answering(
        cls,
        turn: TurnRef,
        conversation: ConversationKey,
        text: str,
        *,
        buttons: tuple[Button, ...] = (),
        reply_to_message_id: str | None = None,
        media: tuple[OutgoingMedia, ...] = (),
    ) -> OutgoingMessage:
        return cls(
            conversation,
            text,
            turn.turn_id,
            buttons=buttons,
            reply_to_message_id=reply_to_message_id,
            source_inbox_id=turn.inbox_id,
            media=media,
        )

    @property
    def turn(self) -> TurnRef:
        return TurnRef(self.turn_id, self.source_inbox_id)
