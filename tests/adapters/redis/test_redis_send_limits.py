"""Telegram's flood limits in Redis: replicas together keep within the global rate, a
429 seen by one pauses the others, and with Redis away sending goes on, more slowly."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from minibot.adapters.redis.redis_send_limits import FALLBACK_SHARE, RedisSendLimits
from tests.fakes.tcp_proxy import TcpProxy
from tests.services import REDIS_URL, require_service

Replica = Callable[..., RedisSendLimits]


@pytest.fixture
async def replica() -> AsyncIterator[Replica]:
    """Makes started limits sharing one key prefix, as replicas of one bot do."""
    require_service("redis")
    prefix = f"minibot-test-{uuid.uuid4().hex[:10]}"
    made: list[RedisSendLimits] = []

    def make(rate: float = 20.0, url: str = REDIS_URL) -> RedisSendLimits:
        limits = RedisSendLimits(url, prefix=prefix, max_sends_per_second=rate)
        made.append(limits)
        return limits

    yield make
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS_URL)
    async for key in client.scan_iter(match=f"{prefix}:*"):
        await client.delete(key)
    await client.aclose()
    for limits in made:
        await limits.stop()


def most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + 1.0) for start in times)


async def test_replicas_together_stay_within_the_global_rate(replica: Replica) -> None:
    replicas = [replica(rate=20), replica(rate=20), replica(rate=20)]
    for limits in replicas:
        await limits.start()
    sent: list[float] = []

    async def send(limits: RedisSendLimits, chat: int) -> None:
        for _ in range(20):
            await limits.acquire(str(chat))
            sent.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(send(r, n) for n, r in enumerate(replicas)))
    assert len(sent) == 60
    assert most_in_one_second(sent) <= 20, "the replicas together sent above 20/s"
    assert time.monotonic() - started >= 2.8


async def test_a_pause_seen_by_one_replica_holds_for_all(replica: Replica) -> None:
    one, other = replica(), replica()
    await one.start()
    await other.start()
    await one.pause("7", 0.6)
    started = time.monotonic()
    await other.acquire("8")
    assert time.monotonic() - started < 0.3, "another chat is not paused"
    await other.acquire("7")
    assert time.monotonic() - started >= 0.5, "chat 7's pause was not honoured"

    await one.pause("", 0.6)  # the whole bot
    started = time.monotonic()
    await other.acquire("9")
    assert time.monotonic() - started >= 0.5, "the bot-wide pause was not honoured"


async def test_with_redis_away_sending_goes_on_at_a_share_of_the_rate(
    replica: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    limits = replica(rate=40, url="redis://127.0.0.1:1/0")
    await limits.start()
    sent: list[float] = []
    with caplog.at_level(logging.WARNING):
        for _ in range(15):
            await limits.acquire("5")
            sent.append(time.monotonic())
    assert not limits.shared
    assert most_in_one_second(sent) <= 40 * FALLBACK_SHARE
    warnings = [r for r in caplog.records if "redis unreachable" in r.getMessage()]
    assert len(warnings) == 1, "the fallback is said once, not per send"


async def test_redis_going_away_mid_run_falls_back_and_shares_again_once_back(
    replica: Replica, caplog: pytest.LogCaptureFixture
) -> None:
    # Redis reached through a proxy the test cuts: the shared Redis itself keeps running.
    proxy = TcpProxy("127.0.0.1", int(REDIS_URL.rsplit(":", 1)[1].split("/")[0]))
    await proxy.start()
    try:
        limits = replica(rate=40, url=proxy.url_of(REDIS_URL))
        await limits.start()
        await limits.acquire("5")
        assert limits.shared

        await proxy.cut()
        with caplog.at_level(logging.WARNING):
            for _ in range(5):
                await asyncio.wait_for(limits.acquire("5"), 10)
        assert not limits.shared, "Redis away: this replica's own limits"
        assert any("redis unreachable" in r.getMessage() for r in caplog.records)

        await proxy.restore()
        deadline = time.monotonic() + 20
        while not limits.shared:
            assert time.monotonic() < deadline, "never went back to the shared limits"
            await asyncio.wait_for(limits.acquire("5"), 10)
            await asyncio.sleep(0.2)
    finally:
        await proxy.stop()
