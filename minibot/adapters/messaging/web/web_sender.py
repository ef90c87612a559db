"""The web channel's side of showing a reply: a transcript the chat page reads and streams."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from minibot.adapters.messaging.web.web_media import ShownMedia, WebMediaShelf
from minibot.core.channel_update import ChannelUpdate
from minibot.core.conversation import ConversationKey
from minibot.core.media import OutgoingMedia
from minibot.core.messages import Button
from minibot.shared.text_split import split_text

# Replies kept per conversation for a chat page opened later (the history has the rest).
_TRANSCRIPT_SIZE = 200
# A browser shows any length, but one huge bubble helps nobody; split like Telegram.
_MAX_CHUNK_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Shown:
    """One message the chat page shows: a reply chunk (`draft` False) or the growing
    draft of a streamed answer. `buttons` are shown under it, pressable (`WebChannel.press`);
    `media`, a voice note (an audio player) or a picture, above its text (the caption)."""

    conversation: ConversationKey
    message_id: str
    text: str
    draft: bool = False
    turn_id: str | None = None
    buttons: tuple[Button, ...] = ()
    media: tuple[ShownMedia, ...] = ()


OnShown = Callable[[Shown], None]


class WebSender:
    """The `ChannelSender` of the web channel: each chunk goes into the transcript and to
    `on_shown` (the live feed, which the chat page listens to). Markdown is sent as
    written; the page shows it as text. It is a `MediaSender` too: a voice note or a
    picture is put on `shelf`, from where the page fetches it. Nothing here can fail on
    the way out."""

    def __init__(self, on_shown: OnShown | None = None) -> None:
        self._on_shown = on_shown
        self.shelf = WebMediaShelf()
        self._ids = itertools.count(1)
        self._transcripts: dict[ConversationKey, deque[Shown]] = {}

    @property
    def max_chunk_chars(self) -> int:
        return _MAX_CHUNK_CHARS

    def split(self, text: str) -> list[str]:
        return [text] if len(text) <= _MAX_CHUNK_CHARS else split_text(text, _MAX_CHUNK_CHARS)

    def render(self, chunk: str) -> str:
        return chunk

    def transcript(self, conversation: ConversationKey) -> list[Shown]:
        return list(self._transcripts.get(conversation, ()))

    def has_button(self, conversation: ConversationKey, message_id: str, action: str) -> bool:
        """Whether a message still in the transcript shows a button with this action."""
        return any(
            shown.message_id == message_id and any(b.action == action for b in shown.buttons)
            for shown in self._transcripts.get(conversation, ())
        )

    async def send_chunk(
        self,
        conversation: ConversationKey,
        text: str,
        *,
        formatted: bool,
        buttons: tuple[Button, ...] = (),
        reply_to: str | None = None,
    ) -> str:
        return self._show(Shown(conversation, str(next(self._ids)), text, buttons=buttons))

    async def send_media(
        self, conversation: ConversationKey, media: OutgoingMedia, *, reply_to: str | None = None
    ) -> str:
        shown = self.shelf.put(media)
        return self._show(Shown(conversation, str(next(self._ids)), media.caption, media=(shown,)))

    def _show(self, shown: Shown) -> str:
        transcript = self._transcripts.setdefault(
            shown.conversation, deque(maxlen=_TRANSCRIPT_SIZE)
        )
        transcript.append(shown)
        if self._on_shown is not None:
            self._on_shown(shown)
        return shown.message_id

    async def edit_chunk(
        self,
        conversation: ConversationKey,
        message_id: str,
        text: str,
        *,
        formatted: bool,
        buttons: tuple[Button, ...] = (),
    ) -> None:
        # Never asked: take_draft hands no message over, so every chunk is sent anew.
        await self.send_chunk(conversation, text, formatted=formatted, buttons=buttons)

    def show_draft(self, conversation: ConversationKey, turn_id: str, text: str) -> None:
        if self._on_shown is not None:
            self._on_shown(Shown(conversation, f"draft-{turn_id}", text, True, turn_id))

    async def take_draft(self, turn_id: str) -> str | None:
        # The page drops a turn's draft bubble when its reply arrives.
        return None

    async def answer_press(self, update: ChannelUpdate, notice: str | None) -> None:
        return None
