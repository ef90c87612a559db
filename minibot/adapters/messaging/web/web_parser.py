"""Reads what the dashboard's chat page posts into `ChannelUpdate`s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from minibot.core.channel_update import ChannelUpdate, Parsed, Unreadable
from minibot.core.conversation import ConversationKey
from minibot.core.media import MediaAttachment, MediaKind
from minibot.core.messages import Sender
from minibot.shared import fast_json

CHANNEL = "web"


@dataclass(frozen=True, slots=True)
class WebMessage:
    """One message typed on the chat page. `message_id` is chosen by the page (so a
    form posted twice is answered once); `text` as received (bytes when not yet decoded).
    `media`: a file posted with it (a recording, a photo, a document), already stored by
    the channel; its `file_id` is the upload's id, all the inbox keeps of it."""

    message_id: str
    text: str | bytes
    media: MediaAttachment | None = None


@dataclass(frozen=True, slots=True)
class WebPress:
    """A button pressed on the chat page: the shown message's id and the button's action.
    Its inbox key is both, so the same button pressed twice is answered once."""

    message_id: str
    action: str


class WebParser:
    """The `UpdateParser` of the web channel: every message is the logged-in owner's,
    in their own conversation (`web:<user id>`)."""

    def __init__(self, user_id: str) -> None:
        self._sender = Sender(CHANNEL, user_id, user_id)
        self._conversation = ConversationKey(CHANNEL, user_id)

    @property
    def conversation(self) -> ConversationKey:
        return self._conversation

    def parse(self, raw: Any) -> Parsed:
        if isinstance(raw, WebPress):
            return self._press(raw.message_id, raw.action)
        message: WebMessage = raw
        text = message.text
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                return self.unreadable(message, f"message is not UTF-8 ({exc.reason})")
        return self._update(message.message_id, text.strip(), message.media)

    def parse_stored(self, payload: str) -> ChannelUpdate | None:
        stored = fast_json.loads(payload)
        if "press" in stored:
            return self._press(str(stored["id"]), str(stored["press"]))
        media = _attachment(stored["file"]) if "file" in stored else None
        return self._update(str(stored["id"]), str(stored["text"]), media)

    def unreadable(self, raw: Any, reason: str) -> Unreadable:
        text = raw.text if isinstance(raw, WebMessage) else repr(raw)
        body = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
        return Unreadable(reason, body, self._conversation, self._sender.user_id)

    def shown_ids(self, user_id: str, chat_id: str) -> str:
        return f"web user {user_id!r} (control_plane.owner)"

    def _update(
        self, message_id: str, text: str, media: MediaAttachment | None = None
    ) -> ChannelUpdate:
        stored: dict[str, Any] = {"id": message_id, "text": text}
        if media is not None:
            stored["file"] = _stored_attachment(media)
        return ChannelUpdate(
            platform_id=message_id,
            conversation=self._conversation,
            sender=self._sender,
            payload=fast_json.dumps(stored),
            received_at=datetime.now(UTC),
            text=text,
            message_id=message_id,
            media=media,
        )

    def _press(self, message_id: str, action: str) -> ChannelUpdate:
        platform_id = f"press:{message_id}:{action}"
        return ChannelUpdate(
            platform_id=platform_id,
            conversation=self._conversation,
            sender=self._sender,
            payload=fast_json.dumps({"id": message_id, "press": action}),
            received_at=datetime.now(UTC),
            action=action,
            press_id=platform_id,
        )


def _stored_attachment(media: MediaAttachment) -> dict[str, Any]:
    """What the inbox keeps of a file: its description and the upload's id, no bytes."""
    return {
        "kind": media.kind.value,
        "id": media.file_id,
        "mime": media.mime_type,
        "name": media.file_name,
        "size": media.size_bytes,
        "seconds": media.duration_seconds,
    }


def _attachment(stored: dict[str, Any]) -> MediaAttachment:
    return MediaAttachment(
        MediaKind(stored["kind"]),
        str(stored["id"]),
        str(stored.get("mime") or ""),
        str(stored.get("name") or ""),
        stored.get("size"),
        stored.get("seconds"),
    )
