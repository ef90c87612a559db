"""Slack's error codes become the core's channel errors, each of the right kind."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from minibot.adapters.messaging.slack.api_errors import translate
from minibot.core.errors import (
    ChannelError,
    ChannelUnavailable,
    DeliveryRefused,
    FloodControl,
    FormattingRejected,
    MessageGone,
    TokenRefused,
)


def api_error(code: str, status: int = 200, headers: dict[str, str] | None = None) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="http://127.0.0.1/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": code},
        headers=headers or {},
        status_code=status,
    )
    return SlackApiError("failed", response)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("invalid_auth", TokenRefused),
        ("token_revoked", TokenRefused),
        ("channel_not_found", DeliveryRefused),
        ("not_in_channel", DeliveryRefused),
        ("invalid_blocks", FormattingRejected),
        ("message_not_found", MessageGone),
        ("internal_error", ChannelUnavailable),
    ],
)
def test_each_code_has_its_kind(code: str, kind: type[ChannelError]) -> None:
    error = translate(api_error(code), chat_id="C1")
    assert type(error) is kind
    assert error.chat_id == "C1"


def test_ratelimited_carries_retry_after() -> None:
    error = translate(api_error("ratelimited", 429, {"Retry-After": "7"}), chat_id="C1")
    assert isinstance(error, FloodControl)
    assert error.retry_after_seconds == 7.0


def test_a_server_error_is_passing_trouble() -> None:
    assert type(translate(api_error("", 503), chat_id="C1")) is ChannelUnavailable


def test_the_description_quotes_the_code_not_the_request() -> None:
    error = translate(api_error("invalid_auth"), chat_id="C1")
    assert "invalid_auth" in str(error)
    assert "api_url" not in str(error) and "Bearer" not in str(error)
