"""Per-chat ordering and flood control for calls to a messaging platform, with retries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from minibot.app.channels.flood_pauses import FloodPauses
from minibot.app.channels.token_gate import TokenGate
from minibot.core.backoff import Backoff
from minibot.core.errors import (
    ChannelConflict,
    ChannelError,
    ChannelStopped,
    ChannelUnavailable,
    DeliveryRefused,
    FloodControl,
    FormattingRejected,
    MessageGone,
    NotModified,
    TokenRefused,
)
from minibot.core.events import FloodWaited
from minibot.core.health import HealthBoard
from minibot.core.ports.bus import Publish
from minibot.core.ports.send_limits import SendLimits

log = logging.getLogger(__name__)

T = TypeVar("T")


class ChatThrottle:
    """One lane (a FIFO lock) per chat, so a chat's messages go out in order while other
    chats go on. A call is retried until it succeeds while the process runs, whatever
    the wait: a 429 pauses its chat (or every chat, see `FloodPauses`) for
    `retry_after`; network errors and 5xx back off exponentially; a refused token (401)
    pauses all sending (`TokenGate`). Only refusals count against `max_attempts`: then
    `DeliveryRefused` is raised. `FormattingRejected`, `NotModified` and `MessageGone`
    are raised at once, for the caller to handle. `request` raises the core's channel
    errors only: the channel's adapter translates its platform's errors before this.

    `drain` (intake closed, the daemon draining) makes calls waiting on a refused token
    give up with `ChannelStopped`: nobody knows when it will work again. `close` makes
    every waiting call give up so. A call already sent is never cut off. Each 429 is
    published as `FloodWaited` when `publish` is given.

    With shared `limits` (replicas of one bot), every call also waits for its turn
    under the bot's global rate, and each 429 pauses the chat (or the bot) for every
    replica."""

    def __init__(
        self,
        max_attempts: int,
        health: HealthBoard,
        *,
        platform: str = "channel",
        token_refused_reason: str | None = None,
        initial_delay_seconds: float = 0.5,
        max_delay_seconds: float = 10.0,
        publish: Publish | None = None,
        limits: SendLimits | None = None,
    ) -> None:
        self._platform = platform
        self._publish = publish
        self._limits = limits
        self._max_attempts = max_attempts
        self._backoff = Backoff(initial_delay_seconds, max_delay_seconds)
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self._pauses = FloodPauses()
        self._token = (
            TokenGate(health, platform=platform)
            if token_refused_reason is None
            else TokenGate(health, platform=platform, reason=token_refused_reason)
        )
        self._draining = False
        self._closed = False
        # Set (and replaced) to wake every waiting call to look at the state again.
        self._wake = asyncio.Event()

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

    async def _report_flood(self, retry_after_seconds: float) -> None:
        if self._publish is None:
            return
        try:
            await self._publish(FloodWaited(self._platform, retry_after_seconds))
        except Exception as exc:
            # A fact for metrics: losing it (the bus stopping) must not fail the send.
            log.debug("flood wait not reported", extra={"error": repr(exc)})

    def paused(self, chat_id: str) -> bool:
        if self._token.refused:
            return True
        return self._pauses.resume_at(chat_id) > asyncio.get_running_loop().time()

    def drain(self) -> None:
        self._draining = True
        self._nudge()

    def close(self) -> None:
        self._closed = True
        self._nudge()

    async def call(self, chat_id: str, request: Callable[[], Awaitable[T]]) -> T:
        refusals = 0
        failures = 0
        while True:
            await self._take_turn(chat_id)
            try:
                result = await (self._probe(chat_id, request) if self._token.refused else request())
            except FloodControl as exc:
                await self._rate_limited(chat_id, exc.retry_after_seconds)
                await self._report_flood(exc.retry_after_seconds)
                continue
            except TokenRefused as exc:
                self._token.token_refused(str(exc), asyncio.get_running_loop().time())
                continue
            except ChannelUnavailable as exc:
                failures += 1
                await self._back_off(chat_id, exc, failures)
                continue
            except (FormattingRejected, NotModified, MessageGone):
                raise
            except (DeliveryRefused, ChannelConflict) as exc:
                refusals += 1
                if refusals >= self._max_attempts:
                    if isinstance(exc, DeliveryRefused):
                        raise
                    raise DeliveryRefused(str(exc), chat_id=chat_id) from exc
                await self._back_off(chat_id, exc, refusals)
                continue
            if self._token.refused:
                self._token.token_accepted()
            return result

    async def _probe(self, chat_id: str, request: Callable[[], Awaitable[T]]) -> T:
        async with self._token.probe:
            # The call before ours may have been refused again: wait out the new pause.
            await self._wait_turn(chat_id)
            return await request()

    async def _wait_turn(self, chat_id: str) -> None:
        while True:
            if self._closed:
                raise ChannelStopped(f"the {self._platform} channel is stopped", chat_id=chat_id)
            resume_at = self._pauses.resume_at(chat_id)
            if self._token.refused:
                if self._draining:
                    raise ChannelStopped(
                        f"the {self._platform} channel is stopping and the bot token is refused",
                        chat_id=chat_id,
                    )
                resume_at = max(resume_at, self._token.resume_at)
            if not resume_at:
                return
            delay = resume_at - asyncio.get_running_loop().time()
            if delay <= 0:
                return
            await self._sleep(delay)

    async def _take_turn(self, chat_id: str) -> None:
        await self._wait_turn(chat_id)
        if self._limits is not None:
            await self._limits.acquire(chat_id)

    async def _rate_limited(self, chat_id: str, retry_after: float) -> None:
        now = asyncio.get_running_loop().time()
        everyone = self._pauses.limited(chat_id, retry_after, now)
        log.warning(
            f"{self._platform} flood control: chat paused",
            extra={"chat_id": chat_id, "retry_after_seconds": retry_after},
        )
        if everyone:
            log.warning(
                f"{self._platform} flood control: all chats paused",
                extra={"retry_after_seconds": retry_after},
            )
        if self._limits is not None:
            await self._limits.pause("" if everyone else chat_id, retry_after)

    async def _back_off(self, chat_id: str, exc: ChannelError, attempt: int) -> None:
        delay = self._backoff.delay(attempt)
        log.warning(
            f"{self._platform} call failed, retrying",
            extra={"chat_id": chat_id, "error": str(exc), "delay_seconds": delay},
        )
        await self._sleep(delay)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, or less when woken by `drain` or `close` (the caller looks again)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    def _nudge(self) -> None:
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()
