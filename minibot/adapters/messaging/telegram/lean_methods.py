"""aiogram methods for the hot path, answered with only what minibot reads.

aiogram validates every answer as `Response[<result type>]`. pydantic caches those
parametrised classes only weakly, so one that nothing else holds is thrown away by a
garbage collection and rebuilt by the next call (milliseconds each time, every few
dozen messages under load); the classes below are kept alive for the process.
"""

from __future__ import annotations

from typing import Any

from aiogram.methods import GetUpdates, SendMessage
from aiogram.methods.base import Response
from aiogram.types import Message
from pydantic import BaseModel, ConfigDict


class GetRawUpdates(GetUpdates):
    """getUpdates answered as plain dicts: one malformed update must not make aiogram
    refuse the whole batch, so each is read on its own."""

    __returning__ = list[Any]


class SentMessageId(BaseModel):
    """The one field of a sent message the outbox keeps."""

    model_config = ConfigDict(extra="ignore")

    message_id: int


class SendMessageForId(SendMessage):
    """sendMessage whose answer is read for its message id only, instead of a whole
    aiogram Message (with its chat, sender and entities) that nothing would read."""

    # The parent's fields and request are kept; only the answer's model differs, which
    # the type checker cannot express (callers read `.message_id`, which both have).
    __returning__ = SentMessageId  # type: ignore[assignment]


# Every answer type the channel asks for, held for the life of the process.
_PINNED_RESPONSES = (
    Response[list[Any]],
    Response[SentMessageId],
    Response[Message],  # send_message (drafts)
    Response[Message | bool],  # edit_message_text
    Response[bool],
)
