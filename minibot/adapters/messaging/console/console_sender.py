"""The console's side of showing a reply: lines on stdout, Markdown shown as written."""

from __future__ import annotations

import sys
from typing import TextIO

from minibot.core.channel_update import ChannelUpdate
from minibot.core.conversation import ConversationKey
from minibot.core.errors import DeliveryRefused
from minibot.core.messages import Button
from minibot.shared.text_split import split_text

PROMPT_REPLY = "minibot> "
_INDENT = "\n" + " " * len(PROMPT_REPLY)


class ConsoleSender:
    """The `ChannelSender` of the console: each chunk printed after `minibot> `, buttons
    shown as `[label]` after the last one. A terminal has no length limit, so a reply is
    one chunk unless `max_chunk_chars` is given. A write that fails (a closed pipe) is a
    refusal: it will not work on retry."""

    def __init__(self, stdout: TextIO, *, max_chunk_chars: int | None = None) -> None:
        self._stdout = stdout
        self._max_chunk_chars = max_chunk_chars
        self._written = 0

    @property
    def max_chunk_chars(self) -> int:
        return self._max_chunk_chars or sys.maxsize

    def split(self, text: str) -> list[str]:
        limit = self._max_chunk_chars
        if limit is None or len(text) <= limit:
            return [text]
        return split_text(text, limit)

    def render(self, chunk: str) -> str:
        return chunk

    async def send_chunk(
        self,
        conversation: ConversationKey,
        text: str,
        *,
        formatted: bool,
        buttons: tuple[Button, ...] = (),
        reply_to: str | None = None,
    ) -> str:
        if buttons:
            text += "\n" + "  ".join(f"[{button.label}]" for button in buttons)
        try:
            self.write(text)
        except (OSError, ValueError) as exc:
            raise DeliveryRefused(
                f"console output failed: {exc}", chat_id=conversation.chat_id
            ) from exc
        self._written += 1
        return str(self._written)

    async def edit_chunk(
        self,
        conversation: ConversationKey,
        message_id: str,
        text: str,
        *,
        formatted: bool,
        buttons: tuple[Button, ...] = (),
    ) -> None:
        # Never asked: the console shows no drafts, so no message is ever edited.
        await self.send_chunk(conversation, text, formatted=formatted, buttons=buttons)

    async def take_draft(self, turn_id: str) -> str | None:
        return None

    async def answer_press(self, update: ChannelUpdate, notice: str | None) -> None:
        return None

    def write(self, text: str) -> None:
        self._stdout.write(PROMPT_REPLY + text.replace("\n", _INDENT) + "\n")
        self._stdout.flush()
