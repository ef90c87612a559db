"""Reads console input lines into `ChannelUpdate`s: each line a message from the console user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from minibot.core.channel_update import ChannelUpdate, Parsed, Unreadable
from minibot.core.conversation import ConversationKey
from minibot.core.messages import Sender
from minibot.shared import fast_json

CHANNEL = "console"


@dataclass(frozen=True, slots=True)
class ConsoleLine:
    """One line as read: bytes from a terminal or pipe, text from a text stream. `line_id`
    is unique across runs (the inbox keys the line by it)."""

    line_id: str
    content: str | bytes


class ConsoleParser:
    """The `UpdateParser` of the console. A line that is not UTF-8 cannot be read: it
    is set aside, and the console user told so."""

    def __init__(self, user_id: str, chat_id: str) -> None:
        self._sender = Sender(CHANNEL, user_id, user_id)
        self._conversation = ConversationKey(CHANNEL, chat_id)

    def parse(self, raw: Any) -> Parsed:
        line: ConsoleLine = raw
        content = line.content
        if isinstance(content, bytes):
            try:
                content = content.decode("utf-8")
            except UnicodeDecodeError as exc:
                return self.unreadable(line, f"line is not UTF-8 ({exc.reason})")
        return self._update(line.line_id, content.strip())

    def parse_stored(self, payload: str) -> ChannelUpdate | None:
        stored = fast_json.loads(payload)
        return self._update(str(stored["id"]), str(stored["text"]))

    def unreadable(self, raw: Any, reason: str) -> Unreadable:
        content = raw.content if isinstance(raw, ConsoleLine) else repr(raw)
        body = content if isinstance(content, bytes) else content.encode("utf-8", "replace")
        return Unreadable(reason, body, self._conversation, self._sender.user_id)

    def shown_ids(self, user_id: str, chat_id: str) -> str:
        return f"console user {user_id!r} (channels.console.user_id)"

    def _update(self, line_id: str, text: str) -> ChannelUpdate:
        return ChannelUpdate(
            platform_id=line_id,
            conversation=self._conversation,
            sender=self._sender,
            payload=fast_json.dumps({"id": line_id, "text": text}),
            received_at=datetime.now(UTC),
            text=text,
            message_id=line_id,
        )
