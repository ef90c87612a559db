"""Sorting aiogram's errors: which to retry, which mean bad formatting, and safe wording."""

from __future__ import annotations

import re
from enum import Enum

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
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


class Failure(Enum):
    """What a failed Bot API call means for the reply it carried."""

    RATE_LIMITED = "rate limited"  # 429: wait `retry_after`, then the same call succeeds
    TOKEN_REFUSED = "token refused"  # 401: nothing goes out until the token works again
    TRANSIENT = "transient"  # network trouble, 5xx: a moment later it may well succeed
    FORMATTING = "formatting"  # the text's HTML: the caller sends it plain instead
    EDIT_NEEDLESS = "edit needless"  # an edit to what is shown already, or to a lost message
    REFUSED = "refused"  # anything else Telegram answers: it will not take this call
    UNEXPECTED = "unexpected"  # not an API error at all: a bug of ours, raised as is


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, TelegramRetryAfter):
        return Failure.RATE_LIMITED
    if isinstance(exc, TelegramUnauthorizedError):
        return Failure.TOKEN_REFUSED
    if isinstance(exc, TelegramEntityTooLarge):  # a network error by type, a refusal by meaning
        return Failure.REFUSED
    if is_transient(exc):
        return Failure.TRANSIENT
    if is_parse_error(exc):
        return Failure.FORMATTING
    if is_not_modified(exc) or is_message_gone(exc):
        return Failure.EDIT_NEEDLESS
    if isinstance(exc, TelegramAPIError):
        return Failure.REFUSED
    return Failure.UNEXPECTED


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
