"""Per-chat ordering and flood control for calls to the Bot API, with retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from aiogram.exceptions import TelegramRetryAfter

from minibot.adapters.messaging.telegram.api_errors import describe, is_transient
from minibot.core.errors import ChannelError

log = logging.getLogger(__name__)

T = TypeVar("T")


class ChatThrottle:
    """One lane (a FIFO lock) per chat, so a chat's messages go out in order while other
    chats go on. A 429 pauses only its chat for `retry_after`; network errors and 5xx
    are retried with exponential backoff. After `max_attempts` a `ChannelError` is
    raised; any other API error is raised as is, at once."""

    def __init__(
        self,
        max_attempts: int,
        *,
        initial_delay_seconds: float = 0.5,
        max_delay_seconds: float = 10.0,
    ) -> None:
        self._max_attempts = max_attempts
        self._initial_delay_seconds = initial_delay_seconds
        self._max_delay_seconds = max_delay_seconds
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._paused_until: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def lane(self, chat_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._users[chat_id] = self._users.get(chat_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[chat_id] -= 1
            if not self._users[chat_id]:
                # Forget idle chats so a bot with many chats does not keep a lock each.
                del self._users[chat_id], self._locks[chat_id]

    def paused(self, chat_id: str) -> bool:
        return self._paused_until.get(chat_id, 0.0) > asyncio.get_running_loop().time()

    async def call(self, chat_id: str, request: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            await self._wait_unpaused(chat_id)
            attempt += 1
            try:
                return await request()
            except TelegramRetryAfter as exc:
                if attempt >= self._max_attempts:
                    raise ChannelError(
                        describe(exc), chat_id=chat_id, retry_after_seconds=exc.retry_after
                    ) from exc
                log.warning(
                    "telegram flood control: chat paused",
                    extra={"chat_id": chat_id, "retry_after_seconds": exc.retry_after},
                )
                loop = asyncio.get_running_loop()
                self._paused_until[chat_id] = loop.time() + exc.retry_after
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if attempt >= self._max_attempts:
                    raise ChannelError(describe(exc), chat_id=chat_id) from exc
                delay = min(
                    self._initial_delay_seconds * 2 ** (attempt - 1), self._max_delay_seconds
                )
                log.warning(
                    "telegram call failed, retrying",
                    extra={"chat_id": chat_id, "error": describe(exc), "delay_seconds": delay},
                )
                await asyncio.sleep(delay)

    async def _wait_unpaused(self, chat_id: str) -> None:
        until = self._paused_until.get(chat_id)
        if until is None:
            return
        delay = until - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)
        self._paused_until.pop(chat_id, None)
