"""aiogram's errors translated, once, into the core's channel errors, with safe wording."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from minibot.core.errors import (
    ChannelConflict,
    ChannelError,
    ChannelUnavailable,
    DeliveryRefused,
    FloodControl,
    FormattingRejected,
    MessageGone,
    NotModified,
    TokenRefused,
)

T = TypeVar("T")

# aiogram puts the token in every request URL; an error that echoes a URL must not leak it.
_TOKEN_IN_URL = re.compile(r"bot\d+:[\w-]+")

# Checked in order, so a subclass comes before its base: aiogram makes a 413 a network
# error by type, while for us it is a refusal (the same request will never fit).
_BY_TYPE: tuple[tuple[type[BaseException], type[ChannelError]], ...] = (
    (TelegramUnauthorizedError, TokenRefused),
    (TelegramConflictError, ChannelConflict),
    (TelegramEntityTooLarge, DeliveryRefused),
    (TelegramNetworkError, ChannelUnavailable),
    (TelegramServerError, ChannelUnavailable),
)

# aiogram raises one `TelegramBadRequest` for every 400, and Telegram tells its kinds
# apart only in the description, so reading the text is unavoidable; this table is the
# one place it is read. The first row whose fragment the description holds wins.
_BAD_REQUESTS: tuple[tuple[str, type[DeliveryRefused]], ...] = (
    ("parse entities", FormattingRejected),  # "can't parse entities: ..."
    ("entity", FormattingRejected),
    ("tag", FormattingRejected),  # "unsupported start tag ..."
    ("not modified", NotModified),  # "message is not modified: ..."
    ("message to edit not found", MessageGone),
    ("message can't be edited", MessageGone),
)


def describe(exc: BaseException) -> str:
    """A one-line description of an error that is safe to log."""
    message = exc.message if isinstance(exc, TelegramAPIError) else str(exc)
    return f"{type(exc).__name__}: {_TOKEN_IN_URL.sub('bot***', message)}"


def translate(exc: TelegramAPIError | ClientDecodeError, *, chat_id: str) -> ChannelError:
    """The core error for what the Bot API answered to a call for `chat_id` ("" when the
    call is for no chat, such as getUpdates)."""
    message = describe(exc)
    if isinstance(exc, TelegramRetryAfter):
        # Telegram does not say whose limit it is; a call without a chat can only hit the
        # bot's (see `FloodPauses` for how a chat's 429s are read as the bot's).
        return FloodControl(
            message,
            chat_id=chat_id,
            retry_after_seconds=float(exc.retry_after),
            scope="chat" if chat_id else "bot",
        )
    if isinstance(exc, ClientDecodeError):
        # An answer we could not read (not JSON, or not the shape we expect): neither a
        # refusal nor safe to retry, as the call may have been carried out.
        return ChannelError(message, chat_id=chat_id)
    for library_type, error_type in _BY_TYPE:
        if isinstance(exc, library_type):
            return error_type(message, chat_id=chat_id)
    if isinstance(exc, TelegramBadRequest):
        description = exc.message.lower()
        for fragment, refusal_type in _BAD_REQUESTS:
            if fragment in description:
                return refusal_type(message, chat_id=chat_id)
    # Forbidden (blocked by the user), not found, a migrated chat, any other 400.
    return DeliveryRefused(message, chat_id=chat_id)


async def call_api(chat_id: str, request: Callable[[], Awaitable[T]]) -> T:
    """Make one Bot API call; what aiogram raises comes out as a core `ChannelError`."""
    try:
        return await request()
    except (TelegramAPIError, ClientDecodeError) as exc:
        raise translate(exc, chat_id=chat_id) from exc
