"""Long polling under our control: an update is confirmed only after it is handled."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot

from minibot.adapters.messaging.telegram.api_errors import call_api
from minibot.adapters.messaging.telegram.lean_methods import GetRawUpdates
from minibot.adapters.messaging.telegram.update_mapper import confirmable_id
from minibot.core.backoff import Backoff
from minibot.core.errors import ChannelConflict, ChannelError, FloodControl, TokenRefused
from minibot.core.health import HealthBoard
from minibot.core.ports.leadership import Leadership

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
# The health condition this loop degrades while Telegram refuses it.
POLLING = "polling"
# Waits between failed getUpdates calls grow to this; a refused token or a rival poller
# will not heal soon, and each try is logged.
_MAX_FAILURE_DELAY_SECONDS = 30.0
_MAX_REFUSED_DELAY_SECONDS = 60.0
# Answers in a row that leave the offset where it was (an update that cannot be confirmed
# comes back at once, every time) before the poller waits between asks; the wait stays
# short, as it also delays every new message.
_STUCK_AFTER = 3
_MAX_STUCK_DELAY_SECONDS = 5.0
# After a 409 while leading, the wait before contending for the leadership again.
_MAX_FENCED_DELAY_SECONDS = 5.0


class _Fenced(Exception):
    """The leadership was lost while a getUpdates was under way: its answer is not ours."""


class LongPoller:
    """Asks for updates, hands each batch to `handle`, and asks again with the offset past
    the updates `handle` reported handled, which is what confirms them to Telegram.
    aiogram's own dispatcher moves the offset before its handlers finish, so a crash
    there would lose updates. When `handle` raises, the rest of the batch is asked for
    again after a pause.

    A getUpdates refused for good as far as we can tell (401: the token was revoked; 409:
    another poller or a webhook holds the bot) is logged at ERROR and degrades `health`
    (condition "polling") until a call succeeds; every failure is retried with back-off.
    When answer after answer leaves the offset where it was, the poller says so once and
    waits between asks instead of spinning.

    With a `leadership` (replicas sharing one bot), only its holder polls: every
    getUpdates is sent only while the holder can prove it leads, and abandoned the moment
    it cannot; a 409 then is a fence (another poller took over): the poller gives the
    leadership up and contends for it again after a pause, never polling beside another."""

    def __init__(
        self,
        bot: Bot,
        handle: Callable[[list[Any], Callable[[Any], None]], Awaitable[None]],
        *,
        timeout_seconds: int,
        durable: Callable[[], Awaitable[None]],
        health: HealthBoard,
        retry_delay_seconds: float = 1.0,
        leadership: Leadership | None = None,
        on_leading: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self._bot = bot
        self._leadership = leadership
        self._on_leading = on_leading
        self._failures = 0
        self._fences = 0
        self._handle = handle
        self._durable = durable
        self._health = health
        self._timeout_seconds = timeout_seconds
        self._retry_delay_seconds = retry_delay_seconds
        self._offset: int | None = None
        # The offset last sent to Telegram may only cover updates stored durably.
        self._durable_offset: int | None = None
        self._refused = False
        self._stuck = 0

    async def run(self) -> None:
        self._failures = 0
        while True:
            if self._leadership is not None and not self._leadership.held:
                await self._lead(self._leadership)
            offset = await self._confirmable_offset()
            answered, batch = await self._ask(offset)
            if not answered:
                continue
            self._failures = 0
            self._fences = 0
            self._answered()
            updates = batch if isinstance(batch, list) else []
            stored = await self._handle_batch(updates)
            delay = self._stuck_delay(offset, updates)
            if not stored:
                delay = max(delay, self._retry_delay_seconds)
            if delay > 0:
                await asyncio.sleep(delay)

    async def _ask(self, offset: int | None) -> tuple[bool, Any]:
        """One getUpdates: (True, its answer), or (False, None) once a failure has been
        logged and waited out."""
        try:
            return True, await self._fenced(
                call_api("", functools.partial(self._get_updates, offset))
            )
        except _Fenced:
            return False, None
        except ChannelConflict as exc:
            if self._leadership is not None:
                await self._fence(self._leadership, exc)
                return False, None
            self._failures += 1
            await asyncio.sleep(self._failed(exc, self._failures))
        except FloodControl as exc:
            await asyncio.sleep(exc.retry_after_seconds)
        except ChannelError as exc:
            self._failures += 1
            await asyncio.sleep(self._failed(exc, self._failures))
        except Exception:
            # Not an answer of Telegram's but a bug: logged in full, while polling goes
            # on, since no message would arrive without it.
            self._failures += 1
            log.exception("telegram getUpdates failed unexpectedly")
            await asyncio.sleep(self._backoff(self._failures, _MAX_FAILURE_DELAY_SECONDS))
        return False, None

    async def _lead(self, leadership: Leadership) -> None:
        log.info("waiting to become the telegram poller")
        await leadership.acquire()
        # Another replica may have confirmed updates meanwhile; Telegram knows the offset,
        # and an update served twice is dropped by the inbox (keyed by update id).
        self._offset = self._durable_offset = None
        self._stuck = 0
        log.info("this replica polls telegram now")
        if self._on_leading is not None:
            await self._on_leading()

    async def _fenced(self, request: Awaitable[Any]) -> Any:
        """The answer of `request`, unless the leadership is lost first (then `_Fenced`)."""
        if self._leadership is None:
            return await request
        asking = asyncio.ensure_future(request)
        losing = asyncio.ensure_future(self._leadership.lost())
        try:
            await asyncio.wait({asking, losing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            losing.cancel()
            if not asking.done():
                asking.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asking
                log.warning("leadership lost during getUpdates; stopped polling")
                raise _Fenced()
        if not self._leadership.held:
            # Answered while this process could not prove it leads (say, it was stopped):
            # left unconfirmed, so the poller that leads now receives these updates.
            raise _Fenced()
        return asking.result()

    async def _fence(self, leadership: Leadership, exc: ChannelConflict) -> None:
        self._fences += 1
        delay = Backoff(self._retry_delay_seconds, _MAX_FENCED_DELAY_SECONDS).delay(
            min(self._fences, 8)
        )
        log.warning(
            "telegram answered 409 (another poller); leaving the leadership",
            extra={"error": str(exc), "delay_seconds": delay},
        )
        await leadership.release()
        await asyncio.sleep(delay)

    async def _get_updates(self, offset: int | None) -> Any:
        return await self._bot(
            GetRawUpdates(
                offset=offset, timeout=self._timeout_seconds, allowed_updates=ALLOWED_UPDATES
            ),
            request_timeout=self._timeout_seconds + 30,
        )

    def _failed(self, exc: ChannelError, failures: int) -> float:
        """Logs a failed getUpdates and returns how long to wait before the next."""
        if isinstance(exc, TokenRefused | ChannelConflict):
            delay = self._backoff(failures, _MAX_REFUSED_DELAY_SECONDS)
            reason = (
                "Telegram refuses the bot token (401 Unauthorized): it may have been revoked"
                if isinstance(exc, TokenRefused)
                else "Telegram reports a conflict (409): another process polls this bot, "
                "or a webhook is set"
            )
            self._refused = True
            self._health.degrade(POLLING, reason)
            log.error(
                "telegram getUpdates refused",
                extra={"reason": reason, "error": str(exc), "delay_seconds": delay},
            )
            return delay
        delay = self._backoff(failures, _MAX_FAILURE_DELAY_SECONDS)
        log.warning("telegram getUpdates failed", extra={"error": str(exc), "delay_seconds": delay})
        return delay

    def _answered(self) -> None:
        if self._refused:
            self._refused = False
            self._health.recover(POLLING)
            log.info("telegram getUpdates accepted again")

    def _backoff(self, failures: int, cap: float) -> float:
        # `failures` counts from 0 here: no failure yet waits the plain retry delay.
        return Backoff(self._retry_delay_seconds, cap).delay(failures + 1)

    def _stuck_delay(self, offset: int | None, updates: list[Any]) -> float:
        """How long to wait before asking again: nothing, unless answers keep coming that
        leave the offset where it was (an update that can never be confirmed)."""
        if not updates or self._offset != offset:
            if self._stuck >= _STUCK_AFTER:
                log.info("telegram getUpdates offset moves again", extra={"offset": self._offset})
            self._stuck = 0
            return 0.0
        self._stuck += 1
        if self._stuck < _STUCK_AFTER:
            return 0.0
        if self._stuck == _STUCK_AFTER:
            log.warning(
                "telegram getUpdates keeps answering with updates that leave the offset "
                "where it is; asking less often",
                extra={"offset": offset, "times": self._stuck},
            )
        return self._backoff(self._stuck - _STUCK_AFTER, _MAX_STUCK_DELAY_SECONDS)

    async def _handle_batch(self, batch: list[Any]) -> bool:
        try:
            await self._handle(batch, self._handled)
        except Exception:
            log.exception("telegram updates not stored; will ask again")
            return False
        return True

    def _handled(self, raw: Any) -> None:
        update_id = confirmable_id(raw)
        if update_id is not None:
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
        if self._leadership is not None and not self._leadership.held:
            return  # a getUpdates now would cut off the poller that leads
        # Best effort at a stop: unconfirmed updates only come again after the restart.
        with contextlib.suppress(ChannelError):
            offset = await self._confirmable_offset()
            await call_api(
                "",
                lambda: self._bot(
                    GetRawUpdates(offset=offset, timeout=0, limit=1), request_timeout=5
                ),
            )
