"""Port: what a channel does on its platform to show a reply, chunk by chunk."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from minibot.core.channel_update import ChannelUpdate
from minibot.core.conversation import ConversationKey
from minibot.core.media import OutgoingMedia
from minibot.core.messages import Button


class ChannelSender(Protocol):
    """One platform's sending, its limits and its formatting. `split` cuts a reply's
    Markdown into chunks the platform takes (at most `max_chunk_chars` each, as the
    platform counts); `render` formats one chunk (Markdown to the platform's markup).

    `send_chunk` makes one attempt at one chunk (`formatted`: the text is `render`'s
    output, else plain) and returns the platform's message id; `edit_chunk` makes one
    attempt at replacing a message's text. Both raise the core's channel errors only
    (`FloodControl`, `ChannelUnavailable`, `TokenRefused`, `DeliveryRefused` and its
    kinds `FormattingRejected`, `NotModified`, `MessageGone`): retries and pauses are the
    caller's. `take_draft` ends a streamed preview of the turn and returns the id of its
    message (to become the reply's first chunk), or None. `answer_press` acknowledges a
    button press, with a short notice or none; it never raises."""

    @property
    def max_chunk_chars(self) -> int: ...

    def split(self, text: str) -> list[str]: ...

    def render(self, chunk: str) -> str: ...

    async def send_chunk(
        self,
        conversation: ConversationKey,
        text: str,
        *,
        formatted: bool,
        buttons: tuple[Button, ...] = (),
        reply_to: str | None = None,
    ) -> str: ...

    async def edit_chunk(
        self,
        conversation: ConversationKey,
        message_id: str,
        text: str,
        *,
        formatted: bool,
        buttons: tuple[Button, ...] = (),
    ) -> None: ...

    async def take_draft(self, turn_id: str) -> str | None: ...

    async def answer_press(self, update: ChannelUpdate, notice: str | None) -> None: ...


class PressAnswerer(Protocol):
    """The one part of a sender the intake needs: answering a press (with a notice, or
    silently once it is stored). A source that has no presses answers none."""

    async def answer_press(self, update: ChannelUpdate, notice: str | None) -> None: ...


@runtime_checkable
class MediaSender(Protocol):
    """A `ChannelSender` that can also send a voice note or a photo: one attempt, the
    platform's message id back, the same core errors as `send_chunk`. A channel without
    it gets each media's `fallback_text` instead."""

    async def send_media(
        self, conversation: ConversationKey, media: OutgoingMedia, *, reply_to: str | None = None
    ) -> str: ...
