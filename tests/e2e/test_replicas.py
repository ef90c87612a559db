"""Replicas of one bot: one Telegram poller among them, taken over after the leader is
killed (SIGKILL) or hangs (SIGSTOP), and never two polling at once."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.replicas import Cluster, cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]
CHAT = 42


async def until(
    predicate: Callable[[], bool], limit_seconds: float, why: Callable[[], str]
) -> None:
    deadline = time.monotonic() + limit_seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(why())
        await asyncio.sleep(0.02)


def replies(replicas: Cluster) -> list[str]:
    return [m.text for m in replicas.tg.messages_to(CHAT)]


async def ask(replicas: Cluster, text: str, limit_seconds: float) -> float:
    """Sends `text` as the user and returns how long its answer took."""
    started = time.monotonic()
    replicas.tg.enqueue_text(CHAT, CHAT, text)
    await until(
        lambda: f"echo: {text}" in replies(replicas),
        limit_seconds,
        lambda: f"no answer to {text!r}; replies {replies(replicas)}\n{replicas.logs()}",
    )
    return time.monotonic() - started


async def test_the_poller_is_taken_over_after_a_kill_and_a_hang_never_two_at_once(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as replicas:
        await replicas.start(3)
        await ask(replicas, "first", 150)
        await replicas.settled()
        first = replicas.leader()
        assert first is not None

        first.signal(signal.SIGKILL)
        after_kill = await ask(replicas, "after the kill", 20)
        await replicas.settled()
        second = replicas.leader()
        assert second is not None and second is not first

        second.signal(signal.SIGSTOP)
        after_hang = await ask(replicas, "after the hang", 30)
        third = replicas.leader()
        assert third is not None and third not in (first, second)

        second.signal(signal.SIGCONT)
        await asyncio.sleep(3)  # the resumed replica finds it no longer leads
        await ask(replicas, "after the resume", 20)

        runs = replicas.tg.pollers_in_turn()
        assert runs == [first.name, second.name, third.name], (
            f"pollers took turns {runs}: two replicas polled at once\n{replicas.logs()}"
        )
        # Telegram's 409 only ever cut the request a stopped or dead leader left behind.
        assert replicas.tg.conflicts <= 2, replicas.logs()
        answered = Counter(replies(replicas))
        assert all(count == 1 for count in answered.values()), answered
        assert after_kill < 5, f"failover after SIGKILL took {after_kill:.1f} s"
        assert after_hang < 15, f"failover after SIGSTOP took {after_hang:.1f} s"
        print(f"failover: kill {after_kill:.2f} s, hang {after_hang:.2f} s")
