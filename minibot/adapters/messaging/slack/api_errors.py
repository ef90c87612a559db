"""slack_sdk's errors translated, once, into the core's channel errors, with safe wording."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

from minibot.core.errors import (
    ChannelError,
    ChannelUnavailable,
    DeliveryRefused,
    FloodControl,
    FormattingRejected,
    MessageGone,
    TokenRefused,
)

T = TypeVar("T")

# Slack answers most failures with HTTP 200 and `{"ok": false, "error": "<code>"}`; the
# code is the one reliable signal, read here and nowhere else.
_BY_CODE: dict[str, type[ChannelError]] = {
    "invalid_auth": TokenRefused,
    "not_authed": TokenRefused,
    "token_revoked": TokenRefused,
    "token_expired": TokenRefused,
    "account_inactive": TokenRefused,
    "invalid_blocks": FormattingRejected,
    "invalid_blocks_format": FormattingRejected,
    "message_not_found": MessageGone,
    "cant_update_message": MessageGone,
    "edit_window_closed": MessageGone,
    "internal_error": ChannelUnavailable,
    "fatal_error": ChannelUnavailable,
    "service_unavailable": ChannelUnavailable,
    "request_timeout": ChannelUnavailable,
}
_DEFAULT_RETRY_AFTER_SECONDS = 1.0


def error_code(exc: SlackApiError) -> str:
    data: Any = exc.response.data if exc.response is not None else None
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def describe(exc: BaseException) -> str:
    """A one-line description that is safe to log: the Slack error code, never the
    request (slack_sdk's message quotes the whole response, headers included)."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code if exc.response is not None else None
        return f"SlackApiError: {error_code(exc) or 'no error code'} (HTTP {status})"
    return f"{type(exc).__name__}: {exc}"


def translate(exc: BaseException, *, chat_id: str) -> ChannelError:
    """The core error for what the Web API answered to a call for `chat_id`."""
    message = describe(exc)
    if not isinstance(exc, SlackApiError):
        # A dropped connection, a timeout, an answer that is not JSON: try again later.
        return ChannelUnavailable(message, chat_id=chat_id)
    status = exc.response.status_code if exc.response is not None else 0
    code = error_code(exc)
    if status == 429 or code == "ratelimited":
        return FloodControl(
            message,
            chat_id=chat_id,
            retry_after_seconds=_retry_after(exc),
            scope="chat" if chat_id else "bot",
        )
    if status >= 500:
        return ChannelUnavailable(message, chat_id=chat_id)
    error_type = _BY_CODE.get(code, DeliveryRefused)
    # channel_not_found, not_in_channel, is_archived, msg_too_long, ...: a refusal.
    return error_type(message, chat_id=chat_id)


def _retry_after(exc: SlackApiError) -> float:
    headers = exc.response.headers if exc.response is not None else {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else _DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        return _DEFAULT_RETRY_AFTER_SECONDS


async def call_api(chat_id: str, request: Callable[[], Awaitable[T]]) -> T:
    """Make one Web API call; what slack_sdk or aiohttp raise comes out as a core error."""
    try:
        return await request()
    except (TimeoutError, SlackClientError, aiohttp.ClientError, ValueError) as exc:
        raise translate(exc, chat_id=chat_id) from exc
