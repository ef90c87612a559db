"""What a channel's parser makes of one platform update, whatever the platform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from minibot.core.conversation import ConversationKey
from minibot.core.events import ButtonPressed, MessageReceived
from minibot.core.media import MediaAttachment
from minibot.core.messages import IncomingMessage, Sender


@dataclass(frozen=True, slots=True)
class ChannelUpdate:
    """A message or a button press from a person. `platform_id` names the update on its
    platform (Telegram's `update_id`, a console line's id): the inbox keys it so a
    duplicate is answered once. `payload` is what the inbox keeps to read it again after
    a restart. `text` is None for a message that is not text (a sticker); `action` is set
    for a press, with `press_id` the platform's handle to answer it. `addressed` is False
    for a group message not meant for the bot (dropped without a word). `media` is the
    file a message carries (`text` is then its caption, or None)."""

    platform_id: str
    conversation: ConversationKey
    sender: Sender
    payload: str
    received_at: datetime
    text: str | None = None
    message_id: str | None = None
    in_group: bool = False
    forwarded: bool = False
    addressed: bool = True
    action: str | None = None
    press_id: str | None = None
    media: MediaAttachment | None = None

    @property
    def is_press(self) -> bool:
        return self.action is not None

    def to_event(self, inbox_id: int | None) -> MessageReceived | ButtonPressed:
        if self.action is not None:
            return ButtonPressed(self.conversation, self.sender, self.action, inbox_id=inbox_id)
        return MessageReceived(
            IncomingMessage(
                conversation=self.conversation,
                sender=self.sender,
                text=self.text or "",
                received_at=self.received_at,
                message_id=self.message_id,
                inbox_id=inbox_id,
                in_group=self.in_group,
                forwarded=self.forwarded,
                media=self.media,
            )
        )


@dataclass(frozen=True, slots=True)
class Ignored:
    """An update read and deliberately dropped (a kind the bot does not handle)."""

    platform_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An update that cannot be read or confirmed: it is set aside as a dead letter.
    `raw` is its bytes as received; `conversation` and `sender_id` name whom to tell,
    when the broken update still shows them."""

    reason: str
    raw: bytes
    conversation: ConversationKey | None = None
    sender_id: str | None = None


Parsed = ChannelUpdate | Ignored | Unreadable
