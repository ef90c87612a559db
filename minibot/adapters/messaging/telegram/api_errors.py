"""Sorting aiogram's errors: which to retry, which mean bad formatting, and safe wording."""

from __future__ import annotations

import re

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramServerError,
)

# aiogram puts the token in every request URL; an error that echoes a URL must not leak it.
_TOKEN_IN_URL = re.compile(r"bot\d+:[\w-]+")


def describe(exc: BaseException) -> str:
    """A one-line description of an error that is safe to log."""
    message = exc.message if isinstance(exc, TelegramAPIError) else str(exc)
    return f"{type(exc).__name__}: {_TOKEN_IN_URL.sub('bot***', message)}"


def is_transient(exc: BaseException) -> bool:
    """Network trouble and 5xx: the same request may well succeed a moment later."""
    return isinstance(exc, TelegramNetworkError | TelegramServerError)


def is_parse_error(exc: BaseException) -> bool:
    """Telegram could not parse the formatting (HTML) of a text."""
    if not isinstance(exc, TelegramBadRequest):
        return False
    message = exc.message.lower()
    return "parse entities" in message or "entity" in message or "tag" in message


def is_not_modified(exc: BaseException) -> bool:
    return isinstance(exc, TelegramBadRequest) and "not modified" in exc.message.lower()


def is_message_gone(exc: BaseException) -> bool:
    return isinstance(exc, TelegramBadRequest) and (
        "message to edit not found" in exc.message.lower()
        or "message can't be edited" in exc.message.lower()
    )
