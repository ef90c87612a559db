"""Each aiogram error becomes one core channel error, carrying what is needed to act."""

from __future__ import annotations

import pytest
from aiogram.exceptions import (
    ClientDecodeError,
    RestartingTelegram,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import GetUpdates, SendMessage

from minibot.adapters.messaging.telegram.api_errors import call_api, translate
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

SEND = SendMessage(chat_id=42, text="hi")

CASES: list[tuple[Exception, type[ChannelError]]] = [
    (TelegramUnauthorizedError(SEND, "Unauthorized"), TokenRefused),
    (TelegramConflictError(SEND, "Conflict: terminated by other getUpdates"), ChannelConflict),
    (TelegramNetworkError(SEND, "Request timeout error"), ChannelUnavailable),
    (TelegramServerError(SEND, "Internal Server Error"), ChannelUnavailable),
    (RestartingTelegram(SEND, "Service Unavailable: restart"), ChannelUnavailable),
    # A network error by aiogram's type, but the same request will never fit.
    (TelegramEntityTooLarge(SEND, "Request Entity Too Large"), DeliveryRefused),
    (TelegramForbiddenError(SEND, "Forbidden: bot was blocked by the user"), DeliveryRefused),
    (TelegramNotFound(SEND, "Not Found"), DeliveryRefused),
    (TelegramMigrateToChat(SEND, "migrated", migrate_to_chat_id=-100), DeliveryRefused),
    (TelegramBadRequest(SEND, "Bad Request: chat not found"), DeliveryRefused),
    (TelegramAPIError(SEND, "I'm a teapot"), DeliveryRefused),
    (
        TelegramBadRequest(SEND, "Bad Request: can't parse entities: unclosed start tag"),
        FormattingRejected,
    ),
    (TelegramBadRequest(SEND, 'Bad Request: unsupported start tag "x"'), FormattingRejected),
    (
        TelegramBadRequest(SEND, "Bad Request: message is not modified: specified new message"),
        NotModified,
    ),
    (TelegramBadRequest(SEND, "Bad Request: message to edit not found"), MessageGone),
    (TelegramBadRequest(SEND, "Bad Request: message can't be edited"), MessageGone),
]


@pytest.mark.parametrize(("error", "expected"), CASES, ids=lambda c: type(c).__name__)
def test_each_aiogram_error_becomes_its_core_error(
    error: Exception, expected: type[ChannelError]
) -> None:
    assert isinstance(error, TelegramAPIError)
    translated = translate(error, chat_id="42")

    assert type(translated) is expected
    assert translated.chat_id == "42"
    assert type(error).__name__ in str(translated), "the log line names what Telegram said"


def test_a_rate_limit_carries_its_wait_and_whose_limit_it_is() -> None:
    error = TelegramRetryAfter(SEND, "Too Many Requests", retry_after=7)

    for_a_chat = translate(error, chat_id="42")
    for_no_chat = translate(TelegramRetryAfter(GetUpdates(), "Too Many", retry_after=3), chat_id="")

    assert isinstance(for_a_chat, FloodControl)
    assert (for_a_chat.retry_after_seconds, for_a_chat.scope) == (7.0, "chat")
    assert isinstance(for_no_chat, FloodControl)
    assert (for_no_chat.retry_after_seconds, for_no_chat.scope) == (3.0, "bot")


def test_edits_that_need_no_retry_are_refusals_a_caller_may_act_on() -> None:
    # Not acted on (plain text refused too, say), they give the reply up like any refusal.
    assert issubclass(FormattingRejected, DeliveryRefused)
    assert issubclass(NotModified, DeliveryRefused)
    assert issubclass(MessageGone, DeliveryRefused)


def test_an_unreadable_answer_is_a_channel_error_neither_retried_nor_refused() -> None:
    error = ClientDecodeError("Failed to decode object", ValueError("not json"), "<html>")

    translated = translate(error, chat_id="42")

    assert type(translated) is ChannelError


def test_the_bot_token_never_reaches_the_message() -> None:
    error = TelegramNetworkError(
        SEND, "ClientConnectorError: https://api.telegram.org/bot123456:AAE-secret_x/sendMessage"
    )

    translated = translate(error, chat_id="42")

    assert "AAE-secret_x" not in str(translated)
    assert "bot***" in str(translated)


async def test_a_call_raises_the_core_error_with_aiograms_as_its_cause() -> None:
    refusal = TelegramForbiddenError(SEND, "Forbidden: bot was blocked by the user")

    async def refused() -> None:
        raise refusal

    with pytest.raises(DeliveryRefused) as caught:
        await call_api("42", refused)

    assert caught.value.__cause__ is refusal


async def test_an_error_of_our_own_passes_through_untranslated() -> None:
    async def buggy() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        await call_api("42", buggy)
