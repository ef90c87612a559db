"""Long polling under our control: an update is confirmed only after it is handled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from minibot.adapters.messaging.telegram.api_errors import describe
from minibot.adapters.messaging.telegram.lean_methods import GetRawUpdates

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]


class LongPoller:
    """Asks for updates, hands each batch to `handle`, and asks again with the offset past
    the updates `handle` reported handled, which is what confirms them to Telegram.
    aiogram's own dispatcher moves the offset before its handlers finish, so a crash
    there would lose updates. When `handle` raises, the rest of the batch is asked for
    again after a pause."""

    def __init__(
        self,
        bot: Bot,
        handle: Callable[[list[Any], Callable[[Any], None]], Awaitable[None]],
        *,
        timeout_seconds: int,
        durable: Callable[[], Awaitable[None]],
        retry_delay_seconds: float = 1.0,
    ) -> None:
        self._bot = bot
        self._handle = handle
        self._durable = durable
        self._timeout_seconds = timeout_seconds
        self._retry_delay_seconds = retry_delay_seconds
        self._offset: int | None = None
        # The offset last sent to Telegram may only cover updates stored durably.
        self._durable_offset: int | None = None

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                offset = await self._confirmable_offset()
                batch = await self._bot(
                    GetRawUpdates(
                        offset=offset,
                        timeout=self._timeout_seconds,
                        allowed_updates=ALLOWED_UPDATES,
                    ),
                    request_timeout=self._timeout_seconds + 30,
                )
            except TelegramRetryAfter as exc:
                await asyncio.sleep(exc.retry_after)
                continue
            except Exception as exc:
                failures += 1
                delay = min(self._retry_delay_seconds * 2 ** min(failures, 5), 30.0)
                log.warning(
                    "telegram getUpdates failed",
                    extra={"error": describe(exc), "delay_seconds": delay},
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            await self._handle_batch(batch if isinstance(batch, list) else [])

    async def _handle_batch(self, batch: list[Any]) -> None:
        try:
            await self._handle(batch, self._handled)
        except Exception:
            log.exception("telegram updates not stored; will ask again")
            await asyncio.sleep(self._retry_delay_seconds)

    def _handled(self, raw: Any) -> None:
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        if isinstance(update_id, int) and not isinstance(update_id, bool):
            self._offset = max(self._offset or 0, update_id + 1)

    async def _confirmable_offset(self) -> int | None:
        """The offset to send: past every update handled, once the inbox has them on disk
        (not only past a process crash: a power loss too); else the last such offset."""
        if self._offset == self._durable_offset:
            return self._offset
        offset = self._offset
        try:
            await self._durable()
        except Exception:
            log.exception("telegram updates not synced to disk; they will come again")
            return self._durable_offset
        self._durable_offset = offset
        return offset

    async def confirm(self) -> None:
        """Confirm the updates handled so far, so the next run does not receive them."""
        if self._offset is None:
            return
        with contextlib.suppress(Exception):
            offset = await self._confirmable_offset()
            await self._bot(GetRawUpdates(offset=offset, timeout=0, limit=1), request_timeout=5)
