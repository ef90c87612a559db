"""Telegram's side of sending a reply: the Bot API calls, its 4096 limit, its HTML."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
)

from minibot.adapters.messaging.telegram.api_errors import call_api
from minibot.adapters.messaging.telegram.lean_methods import SendMessageForId
from minibot.adapters.messaging.telegram.markdown import (
    MAX_MESSAGE_CHARS,
    render_html,
    split_markdown,
)
from minibot.app.channels.chat_throttle import ChatThrottle
from minibot.app.channels.draft_editor import DraftEditor
from minibot.core.channel_update import ChannelUpdate
from minibot.core.conversation import ConversationKey
from minibot.core.errors import ChannelError
from minibot.core.media import OutgoingKind, OutgoingMedia
from minibot.core.messages import Button
from minibot.core.ports.delivery_ledger import DeliveryLedger
from minibot.shared.text_split import split_text, utf16_length

log = logging.getLogger(__name__)

_BUTTONS_PER_ROW = 2


class TelegramSender:
    """The `ChannelSender` over the Bot API: chunks of at most 4096 characters (UTF-16,
    as Telegram counts), Markdown rendered as Telegram HTML, buttons as an inline
    keyboard. Every call goes through `call_api`, so only core errors come out. Its
    `drafts` stream a reply by editing one message."""

    max_chunk_chars = MAX_MESSAGE_CHARS

    def __init__(
        self,
        bot: Bot,
        throttle: ChatThrottle,
        ledger: DeliveryLedger,
        *,
        edit_interval_seconds: float,
    ) -> None:
        self._bot = bot
        self.drafts = DraftEditor(
            self,
            throttle,
            ledger,
            interval_seconds=edit_interval_seconds,
            clip=clip_draft,
            platform="telegram",
        )

    def split(self, text: str) -> list[str]:
        return split_markdown(text)

    def render(self, chunk: str) -> str:
        return render_html(chunk)

    async def send_chunk(
        self,
        conversation: ConversationKey,
        text: str,
        *,
        formatted: bool,
        buttons: tuple[Button, ...] = (),
        reply_to: str | None = None,
    ) -> str:
        chat_id = conversation.chat_id
        parameters = _reply_parameters(reply_to)
        method = SendMessageForId(
            chat_id=int(chat_id),
            message_thread_id=int(conversation.thread) if conversation.thread else None,
            text=text,
            parse_mode="HTML" if formatted else None,
            reply_markup=_keyboard(buttons),
            reply_parameters=parameters,
        )
        sent = await call_api(chat_id, lambda: self._bot(method))
        return str(sent.message_id)

    async def send_media(
        self, conversation: ConversationKey, media: OutgoingMedia, *, reply_to: str | None = None
    ) -> str:
        """A voice note (sendVoice: OGG/Opus shows as one) or a photo (sendPhoto)."""
        chat_id = int(conversation.chat_id)
        upload = BufferedInputFile(media.data, filename=media.file_name)
        parameters = _reply_parameters(reply_to)
        caption = media.caption or None
        if media.kind is OutgoingKind.VOICE:
            sent = await call_api(
                conversation.chat_id,
                lambda: self._bot.send_voice(
                    chat_id, upload, caption=caption, reply_parameters=parameters
                ),
            )
        else:
            sent = await call_api(
                conversation.chat_id,
                lambda: self._bot.send_photo(
                    chat_id, upload, caption=caption, reply_parameters=parameters
                ),
            )
        return str(sent.message_id)

    async def edit_chunk(
        self,
        conversation: ConversationKey,
        message_id: str,
        text: str,
        *,
        formatted: bool,
        buttons: tuple[Button, ...] = (),
    ) -> None:
        chat_id = conversation.chat_id
        await call_api(
            chat_id,
            lambda: self._bot.edit_message_text(
                chat_id=int(chat_id),
                message_id=int(message_id),
                text=text,
                parse_mode="HTML" if formatted else None,
                reply_markup=_keyboard(buttons),
            ),
        )

    async def take_draft(self, turn_id: str) -> str | None:
        return await self.drafts.finish(turn_id)

    async def answer_press(self, update: ChannelUpdate, notice: str | None) -> None:
        query_id = update.press_id
        if query_id is None:
            return
        try:
            # Telegram shows a spinner on the button until the query is answered.
            await call_api(
                update.conversation.chat_id,
                lambda: self._bot.answer_callback_query(query_id, text=notice),
            )
        except ChannelError as exc:
            log.warning("telegram button not acknowledged", extra={"error": str(exc)})


def _reply_parameters(reply_to: str | None) -> ReplyParameters | None:
    if reply_to and reply_to.isdigit():
        return ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True)
    return None


def _keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    keys = [InlineKeyboardButton(text=b.label, callback_data=b.action) for b in buttons]
    rows = [keys[i : i + _BUTTONS_PER_ROW] for i in range(0, len(keys), _BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def clip_draft(text: str) -> str:
    # A draft is a preview: past the limit, show the start; the final reply splits.
    if utf16_length(text) <= MAX_MESSAGE_CHARS:
        return text
    return split_text(text, MAX_MESSAGE_CHARS - 1, measure=utf16_length)[0] + "…"
