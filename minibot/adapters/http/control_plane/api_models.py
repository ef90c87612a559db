"""The API's request bodies: strict pydantic models, also the OpenAPI document's schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_MAX_TEXT_CHARS = 4000


class _Body(BaseModel):
    # Wrong types are refused, not coerced ("5" is no integer); unknown fields too.
    model_config = ConfigDict(extra="forbid", strict=True)


class TaskCreate(_Body):
    """A reminder (its text sent as written) or a scheduled prompt (run through the model)."""

    owner: str = Field(min_length=3, max_length=255, description="whose task: <channel>:<user id>")
    kind: Literal["reminder", "prompt"] = "reminder"
    text: str = Field(min_length=1, max_length=_MAX_TEXT_CHARS)
    when: str = Field(
        min_length=1,
        max_length=100,
        description="a schedule phrase ('in 10 minutes', 'every day at 8:00') or a cron "
        "expression ('cron 0 8 * * *')",
    )
    timezone: str | None = Field(
        None, max_length=64, description="IANA zone; default: the owner's own"
    )
    conversation: str | None = Field(
        None,
        max_length=255,
        description="where it is delivered (<channel>:<chat id>); default: the owner's chat",
    )
    notify: Literal["always", "never"] = "always"


class TaskPatch(_Body):
    """Changes to a task: any of its time, its text, or whether its answer is sent."""

    when: str | None = Field(None, min_length=1, max_length=100)
    timezone: str | None = Field(None, max_length=64)
    text: str | None = Field(None, min_length=1, max_length=_MAX_TEXT_CHARS)
    notify: Literal["always", "never"] | None = None


# A client's message id: it keys the inbox, so a retried POST with it is answered once.
_MESSAGE_ID = Field(
    None,
    min_length=1,
    max_length=64,
    pattern=r"^[A-Za-z0-9_-]+$",
    description="the client's id for this message: a POST retried with the same id is "
    "answered once (also taken from the Idempotency-Key header)",
)


class MessagePost(_Body):
    """Something said as the conversation's owner; `message_id` (chosen by the client)
    makes a retried POST count once."""

    text: str = Field(min_length=1, max_length=_MAX_TEXT_CHARS)
    message_id: str | None = _MESSAGE_ID


class ChatPost(_Body):
    """A message typed on the web chat page; `message_id` (chosen by the page) makes a
    post sent twice count once."""

    text: str = Field(min_length=1, max_length=_MAX_TEXT_CHARS)
    message_id: str | None = _MESSAGE_ID


class ChatPress(_Body):
    """A button pressed on the web chat page: the shown message's id and the button's
    action (both as the chat API gave them). The same button pressed again counts once."""

    message_id: str = Field(min_length=1, max_length=64)
    action: str = Field(min_length=1, max_length=256)


MODELS: tuple[type[BaseModel], ...] = (TaskCreate, TaskPatch, MessagePost, ChatPost, ChatPress)
