"""Reads a raw Telegram update into a `ChannelUpdate`, or says why it is skipped or set aside."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiogram.types import Message, Update
from pydantic import ValidationError

from minibot.adapters.messaging.telegram import dead_letter
from minibot.core.channel_update import ChannelUpdate, Ignored, Parsed, Unreadable
from minibot.core.conversation import ConversationKey
from minibot.core.media import MediaAttachment, MediaKind
from minibot.core.messages import Sender
from minibot.shared import fast_json
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


class UpdateMapper:
    """The `UpdateParser` of Telegram updates (raw dicts from getUpdates or a webhook).
    Knows the bot's own id and username, to tell whether a group message addresses it;
    in groups the bot's @mention is taken out of the text. An update whose id no offset
    can move past is unreadable: it could never be confirmed."""

    def __init__(self, bot_id: int, bot_username: str, *, always_in_groups: bool) -> None:
        self._bot_id = bot_id
        self._mention = re.compile(rf"@{re.escape(bot_username)}\b", re.IGNORECASE)
        self._always_in_groups = always_in_groups

    def parse(self, raw: Any) -> Parsed:
        update_id = confirmable_id(raw)
        if update_id is None:
            return self.unreadable(raw, "update without an update_id an offset can move past")
        try:
            update = Update.model_validate(raw)
        except (ValidationError, ValueError, TypeError) as exc:
            return Ignored(str(update_id), f"malformed update ({type(exc).__name__})")
        if update.message is not None:
            return self._message(update, raw)
        if update.callback_query is not None:
            return self._button(update, raw)
        kinds = sorted(k for k, v in raw.items() if k != "update_id" and v is not None)
        return Ignored(str(update_id), f"unhandled update kind {kinds[:3]}")

    def parse_stored(self, payload: str) -> ChannelUpdate | None:
        parsed = self.parse(fast_json.loads(payload))
        return parsed if isinstance(parsed, ChannelUpdate) else None

    def unreadable(self, raw: Any, reason: str) -> Unreadable:
        sender = dead_letter.sender_of(raw)
        if sender is None:
            return Unreadable(reason, dead_letter.raw_bytes(raw))
        chat_id, user_id = sender
        conversation = ConversationKey(CHANNEL, str(chat_id))
        return Unreadable(reason, dead_letter.raw_bytes(raw), conversation, str(user_id))

    def shown_ids(self, user_id: str, chat_id: str) -> str:
        return f"user id {user_id} (chat id {chat_id})"

    def _message(self, update: Update, raw: Any) -> Parsed:
        message = update.message
        assert message is not None
        user = message.from_user
        if user is None or user.is_bot:
            return Ignored(str(update.update_id), "message without a human sender")
        in_group = message.chat.type in _GROUP_TYPES
        media = media_of(message)
        text = message.text if media is None else message.caption
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
        return ChannelUpdate(
            platform_id=str(update.update_id),
            conversation=_conversation(message),
            # The raw update keeps a lone surrogate; what the model and the stores see
            # must be text that encodes.
            sender=Sender(CHANNEL, str(user.id), without_lone_surrogates(user.full_name)),
            payload=fast_json.dumps(raw),
            received_at=_aware(message.date),
            text=None if text is None else without_lone_surrogates(text),
            message_id=str(message.message_id),
            in_group=in_group,
            forwarded=message.forward_origin is not None,
            addressed=addressed,
            media=media,
        )

    def _button(self, update: Update, raw: Any) -> Parsed:
        query = update.callback_query
        assert query is not None
        if query.message is None or not query.data:
            return Ignored(str(update.update_id), "button press without a chat or data")
        user = query.from_user
        return ChannelUpdate(
            platform_id=str(update.update_id),
            conversation=_conversation(query.message),
            sender=Sender(CHANNEL, str(user.id), without_lone_surrogates(user.full_name)),
            payload=fast_json.dumps(raw),
            received_at=datetime.now(UTC),
            action=without_lone_surrogates(query.data),
            press_id=query.id,
        )


def media_of(message: Message) -> MediaAttachment | None:
    """The file a message carries, as Telegram describes it (nothing downloaded yet)."""
    if message.voice is not None:
        v = message.voice
        return MediaAttachment(
            MediaKind.VOICE,
            v.file_id,
            v.mime_type or "audio/ogg",
            "voice.ogg",
            v.file_size,
            v.duration,
        )
    if message.audio is not None:
        a = message.audio
        name = a.file_name or "audio.mp3"
        return MediaAttachment(
            MediaKind.AUDIO, a.file_id, a.mime_type or "audio/mpeg", name, a.file_size, a.duration
        )
    if message.video_note is not None:
        n = message.video_note
        return MediaAttachment(
            MediaKind.VIDEO_NOTE, n.file_id, "video/mp4", "video_note.mp4", n.file_size, n.duration
        )
    if message.photo:
        # Sizes come smallest first: the largest shows the model the most.
        p = message.photo[-1]
        return MediaAttachment(MediaKind.PHOTO, p.file_id, "image/jpeg", "photo.jpg", p.file_size)
    if message.document is not None:
        d = message.document
        return MediaAttachment(
            MediaKind.DOCUMENT, d.file_id, d.mime_type or "", d.file_name or "", d.file_size
        )
    return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _conversation(message: Any) -> ConversationKey:
    """A forum topic is a conversation of its own (other supergroups' reply threads,
    which also carry a `message_thread_id`, are not)."""
    chat_id = str(message.chat.id)
    topic = getattr(message, "message_thread_id", None)
    if topic is not None and getattr(message, "is_topic_message", None):
        return ConversationKey(CHANNEL, chat_id, str(topic))
    return ConversationKey(CHANNEL, chat_id)
