"""When each chat, and the bot as a whole, may send again after the platform's 429s."""

from __future__ import annotations

from collections import deque

# A 429 (Telegram's, at least) does not say whether a chat's limit or the bot's was hit.
# 429s in this many different chats within the window are taken as the bot's limit.
CHATS_FOR_A_BOT_LIMIT = 3
BOT_LIMIT_WINDOW_SECONDS = 1.0


class FloodPauses:
    """Pure bookkeeping of pauses, in event-loop time. A 429 pauses its chat for
    `retry_after`; a 429 for a call without a chat, or 429s in `CHATS_FOR_A_BOT_LIMIT`
    chats within `BOT_LIMIT_WINDOW_SECONDS`, pause every chat until the latest of them
    ends. A pause is only ever lengthened by a later 429, never shortened."""

    def __init__(self) -> None:
        self._chats: dict[str, float] = {}
        self._everyone = 0.0
        self._recent: deque[tuple[float, str]] = deque()

    def resume_at(self, chat_id: str) -> float:
        """When `chat_id` may send again (in the past, or 0.0, when it may now)."""
        chat = self._chats.get(chat_id, 0.0)
        return chat if chat > self._everyone else self._everyone

    def limited(self, chat_id: str, retry_after_seconds: float, now: float) -> bool:
        """Record a 429 for `chat_id` ("" for a call without a chat); True when it
        paused every chat."""
        until = now + retry_after_seconds
        # Chats whose pause has passed are dropped here, where 429s are rare anyway.
        self._chats = {chat: end for chat, end in self._chats.items() if end > now}
        if until > self._chats.get(chat_id, 0.0):
            self._chats[chat_id] = until
        self._recent.append((now, chat_id))
        while self._recent[0][0] < now - BOT_LIMIT_WINDOW_SECONDS:
            self._recent.popleft()
        chats = {chat for _, chat in self._recent}
        if chat_id and len(chats) < CHATS_FOR_A_BOT_LIMIT:
            return False
        self._everyone = max(self._everyone, until)
        return True
