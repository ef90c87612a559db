"""Conversations and the messages exchanged in them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from minibot.core.media import ImagePart


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """One chat on one channel, and optionally one thread in it (a Slack thread, a
    Telegram forum topic): the unit of ordering and of history. A thread is a
    conversation of its own, apart from its chat's other talk.

    Its text form is `channel:chat_id`, or `channel:chat_id/thread` in a thread; turn ids
    append `#...` to it, so neither part holds a `#`, and a chat id holds no `/`."""

    channel: str
    chat_id: str
    thread: str = ""

    def __str__(self) -> str:
        if self.thread:
            return f"{self.channel}:{self.chat_id}{THREAD_MARK}{self.thread}"
        return f"{self.channel}:{self.chat_id}"

    @classmethod
    def parse(cls, text: str) -> ConversationKey:
        channel, _, rest = text.partition(":")
        chat_id, mark, thread = rest.partition(THREAD_MARK)
        if not channel or not chat_id or (mark and not thread):
            raise ValueError(f"not a conversation key: {text!r}")
        return cls(channel, chat_id, thread)


# Between a chat id and its thread in a key's text: no platform's chat ids hold it.
THREAD_MARK = "/"


class Role(enum.StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A request from the model to run one tool; `arguments` is the raw JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation, as stored and as sent to the model. `images` are
    shown to the model in the turn they came in only: stores keep none of them (the
    message's meta keeps a reference)."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    created_at: datetime | None = None
    token_estimate: int = 0
    meta: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    images: tuple[ImagePart, ...] = field(default=(), hash=False, compare=False)
