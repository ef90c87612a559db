"""Turns a raw Telegram update into what the channel acts on, or says why it skips it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiogram.types import Update
from pydantic import ValidationError

from minibot.core.conversation import ConversationKey
from minibot.core.messages import IncomingMessage, Sender
from minibot.shared.lone_surrogates import without_lone_surrogates

CHANNEL = "telegram"
_GROUP_TYPES = {"group", "supergroup"}
# The getUpdates offset that confirms an update is its id + 1, a signed 64-bit integer.
MAX_UPDATE_ID = 2**63 - 2


def confirmable_id(raw: Any) -> int | None:
    """The update's id when an offset can move past it; None for a missing, non-integer,
    negative or too large one (such an update cannot be confirmed)."""
    update_id = raw.get("update_id") if isinstance(raw, dict) else None
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        return None
    return update_id if 0 <= update_id <= MAX_UPDATE_ID else None


@dataclass(frozen=True, slots=True)
class MessageUpdate:
    """A message from a person. `text` is None for non-text messages (stickers, photos);
    in groups the bot's @mention is taken out of it."""

    update_id: int
    chat_id: int
    user_id: int
    display_name: str
    text: str | None
    message_id: int
    sent_at: datetime
    in_group: bool
    addressed: bool

    @property
    def conversation(self) -> ConversationKey:
        return ConversationKey(CHANNEL, str(self.chat_id))

    def to_incoming(self, inbox_id: int | None) -> IncomingMessage:
        return IncomingMessage(
            conversation=self.conversation,
            sender=Sender(CHANNEL, str(self.user_id), self.display_name),
            text=self.text or "",
            received_at=self.sent_at,
            message_id=str(self.message_id),
            inbox_id=inbox_id,
            in_group=self.in_group,
        )


@dataclass(frozen=True, slots=True)
class ButtonUpdate:
    update_id: int
    query_id: str
    chat_id: int
    user_id: int
    display_name: str
    action: str

    @property
    def conversation(self) -> ConversationKey:
        return ConversationKey(CHANNEL, str(self.chat_id))


@dataclass(frozen=True, slots=True)
class Skipped:
    update_id: int | None
    reason: str


Parsed = MessageUpdate | ButtonUpdate | Skipped


class UpdateMapper:
    """Knows the bot's own id and username, to tell whether a group message addresses it."""

    def __init__(self, bot_id: int, bot_username: str, *, always_in_groups: bool) -> None:
        self._bot_id = bot_id
        self._mention = re.compile(rf"@{re.escape(bot_username)}\b", re.IGNORECASE)
        self._always_in_groups = always_in_groups

    def parse(self, raw: Any) -> Parsed:
        update_id = confirmable_id(raw)
        if update_id is None:
            return Skipped(None, "update without an update_id an offset can move past")
        try:
            update = Update.model_validate(raw)
        except (ValidationError, ValueError, TypeError) as exc:
            return Skipped(update_id, f"malformed update ({type(exc).__name__})")
        if update.message is not None:
            return self._message(update)
        if update.callback_query is not None:
            return self._button(update)
        kinds = sorted(k for k, v in raw.items() if k != "update_id" and v is not None)
        return Skipped(update_id, f"unhandled update kind {kinds[:3]}")

    def _message(self, update: Update) -> Parsed:
        message = update.message
        assert message is not None
        user = message.from_user
        if user is None or user.is_bot:
            return Skipped(update.update_id, "message without a human sender")
        in_group = message.chat.type in _GROUP_TYPES
        text = message.text
        addressed = not in_group or self._always_in_groups
        if in_group:
            mentioned = bool(text and self._mention.search(text)) or bool(
                message.caption and self._mention.search(message.caption)
            )
            replied = message.reply_to_message is not None and (
                message.reply_to_message.from_user is not None
                and message.reply_to_message.from_user.id == self._bot_id
            )
            addressed = addressed or mentioned or replied
            if text is not None:
                text = " ".join(self._mention.sub("", text).split()) or text
        return MessageUpdate(
            update_id=update.update_id,
            chat_id=message.chat.id,
            user_id=user.id,
            # The raw update keeps a lone surrogate; what the model and the stores see
            # must be text that encodes.
            display_name=without_lone_surrogates(user.full_name),
            text=None if text is None else without_lone_surrogates(text),
            message_id=message.message_id,
            sent_at=_aware(message.date),
            in_group=in_group,
            addressed=addressed,
        )

    def _button(self, update: Update) -> Parsed:
        query = update.callback_query
        assert query is not None
        if query.message is None or not query.data:
            return Skipped(update.update_id, "button press without a chat or data")
        return ButtonUpdate(
            update_id=update.update_id,
            query_id=query.id,
            chat_id=query.message.chat.id,
            user_id=query.from_user.id,
            display_name=without_lone_surrogates(query.from_user.full_name),
            action=without_lone_surrogates(query.data),
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
