"""A Telegram update set aside: the bytes kept of it, and whom to tell."""

from __future__ import annotations

import json
from typing import Any


def raw_bytes(raw: Any) -> bytes:
    """The update as received. aiogram has already parsed the getUpdates answer, so it is
    written again as ASCII JSON: lossless for anything JSON can hold (a lone surrogate
    stays an escape, a big integer keeps every digit)."""
    try:
        return json.dumps(raw, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    except (TypeError, ValueError):
        return repr(raw).encode("utf-8", "backslashreplace")


def sender_of(raw: Any) -> tuple[int, int] | None:
    """(chat id, user id) of a message or button press read from the raw update, or
    None: for an update too broken to parse, to tell its sender it was set aside."""
    if not isinstance(raw, dict):
        return None
    message = raw.get("message")
    user: Any = None
    if isinstance(message, dict):
        user = message.get("from")
    else:
        query = raw.get("callback_query")
        if not isinstance(query, dict):
            return None
        user, message = query.get("from"), query.get("message")
    chat = message.get("chat") if isinstance(message, dict) else None
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    user_id = user.get("id") if isinstance(user, dict) else None
    chat, user = _plain_int(chat_id), _plain_int(user_id)
    return None if chat is None or user is None else (chat, user)


def _plain_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
