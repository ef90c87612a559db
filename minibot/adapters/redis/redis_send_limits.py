"""Telegram's flood limits held in Redis, so N replicas of one bot together keep within
them: one global rate for the bot and the 429 pauses seen by any replica."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from minibot.app.channels.local_send_limits import LocalSendLimits

log = logging.getLogger(__name__)

# Each acquire is one atomic step on the server's clock (so replicas' clocks need not
# agree): honour a running pause of the chat or of the bot, then take the next slot of
# the global rate (a virtual schedule: slots 1/rate apart), or say how long to wait.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local paused = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'),
                        tonumber(redis.call('GET', KEYS[3]) or '0'))
if paused > now then return tostring(paused - now) end
local interval = tonumber(ARGV[1])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot > now then return tostring(slot - now) end
redis.call('SET', KEYS[1], tostring(now + interval), 'PX', math.ceil(interval) + 60000)
return '0'
"""
# A pause only ever grows.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local untl = now + tonumber(ARGV[1])
if untl > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], tostring(untl), 'PX', math.ceil(tonumber(ARGV[1])) + 1000)
end
return 1
"""
# While Redis is away each process sends at this share of the global rate: replicas
# do not know how many they are, so they guess low rather than exceed Telegram's limit.
FALLBACK_SHARE = 0.25
_RETRY_REDIS_SECONDS = 5.0


class RedisSendLimits:
    """The `SendLimits` port on Redis (redis-py asyncio, loaded at start). Keys begin
    with `prefix` (the bus namespace), so two bots share a Redis safely. When Redis does
    not answer, each call falls back at once to this process's own limits at
    `FALLBACK_SHARE` of the rate (logged once), and Redis is tried again every few
    seconds; sending never stops for it."""

    name = "send-limits"

    def __init__(
        self, url: str, *, prefix: str, max_sends_per_second: float, timeout_seconds: float = 0.5
    ) -> None:
        self._url = url
        self._interval_ms = 1000.0 / max_sends_per_second
        self._rate_key = f"{prefix}:telegram:send-slot"
        self._pause_prefix = f"{prefix}:telegram:pause:"
        self._timeout_seconds = timeout_seconds
        self._fallback = LocalSendLimits(max_sends_per_second * FALLBACK_SHARE)
        self._client: Any = None
        self._acquire: Any = None
        self._pause: Any = None
        self._away_since: float | None = None
        self._errors: tuple[type[Exception], ...] = (OSError,)
        self.fallbacks = 0

    @property
    def shared(self) -> bool:
        """False while the limits are this process's own (Redis away)."""
        return self._away_since is None

    async def start(self) -> None:
        import redis.asyncio as redis
        from redis.exceptions import RedisError

        self._errors = (RedisError, OSError)
        self._client = redis.Redis.from_url(
            self._url,
            socket_timeout=self._timeout_seconds,
            socket_connect_timeout=self._timeout_seconds,
        )
        self._acquire = self._client.register_script(_ACQUIRE)
        self._pause = self._client.register_script(_PAUSE)

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _pause_key(self, chat_id: str) -> str:
        return f"{self._pause_prefix}{chat_id or '*'}"

    async def acquire(self, chat_id: str) -> None:
        while self._use_redis():
            try:
                wait_ms = float(
                    await self._acquire(
                        keys=[self._rate_key, self._pause_key(""), self._pause_key(chat_id)],
                        args=[self._interval_ms],
                    )
                )
            except self._errors as exc:
                self._went_away(exc)
                break
            self._came_back()
            if wait_ms <= 0:
                return
            await asyncio.sleep(wait_ms / 1000)
        await self._fallback.acquire(chat_id)

    async def pause(self, chat_id: str, seconds: float) -> None:
        await self._fallback.pause(chat_id, seconds)
        if not self._use_redis():
            return
        try:
            await self._pause(keys=[self._pause_key(chat_id)], args=[seconds * 1000])
        except self._errors as exc:
            self._went_away(exc)
            return
        self._came_back()

    def _use_redis(self) -> bool:
        if self._client is None:
            return False
        away = self._away_since
        return away is None or time.monotonic() - away >= _RETRY_REDIS_SECONDS

    def _went_away(self, exc: Exception) -> None:
        first = self._away_since is None
        self._away_since = time.monotonic()
        if first:
            self.fallbacks += 1
            log.warning(
                "redis unreachable: telegram flood limits are this process's own until it is back",
                extra={
                    "error": repr(exc),
                    "max_sends_per_second": round(1000.0 / self._interval_ms * FALLBACK_SHARE, 2),
                },
            )

    def _came_back(self) -> None:
        if self._away_since is not None:
            self._away_since = None
            log.info("redis reachable again: telegram flood limits are shared again")
