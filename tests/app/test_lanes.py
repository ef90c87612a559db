"""Keyed lanes: in order per key, concurrent across keys, capped, failures contained."""

from __future__ import annotations

import asyncio
import logging

import pytest

from minibot.app.lanes import KeyedLanes


async def test_jobs_of_one_key_run_in_order_and_keys_run_concurrently() -> None:
    lanes = KeyedLanes("t", max_concurrent=10, max_pending=100)
    log: list[str] = []
    slow_started = asyncio.Event()
    release = asyncio.Event()

    async def slow() -> None:
        slow_started.set()
        await release.wait()
        log.append("a1")

    def record(name: str):
        async def job() -> None:
            log.append(name)

        return job

    await lanes.submit("a", slow)
    await lanes.submit("a", record("a2"))
    await slow_started.wait()
    await lanes.submit("b", record("b1"))
    await asyncio.sleep(0.02)
    assert log == ["b1"], "b must not wait behind a's slow job"
    release.set()
    await asyncio.wait_for(lanes.join(), 2)
    assert log == ["b1", "a1", "a2"]


async def test_concurrency_is_capped() -> None:
    lanes = KeyedLanes("t", max_concurrent=3, max_pending=100)
    running = 0
    peak = 0

    async def job() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    for key in range(12):
        await lanes.submit(key, job)
    await asyncio.wait_for(lanes.join(), 5)
    assert peak == 3


async def test_a_failing_job_does_not_stop_its_lane() -> None:
    lanes = KeyedLanes("t", max_concurrent=2, max_pending=10)
    done: list[int] = []

    async def broken() -> None:
        raise ValueError("nope")

    async def fine() -> None:
        done.append(1)

    await lanes.submit("k", broken)
    await lanes.submit("k", fine)
    await asyncio.wait_for(lanes.join(), 2)
    assert done == [1]


async def test_submit_waits_when_max_pending_is_reached() -> None:
    lanes = KeyedLanes("t", max_concurrent=1, max_pending=2)
    release = asyncio.Event()

    async def held() -> None:
        await release.wait()

    await lanes.submit("a", held)
    await lanes.submit("b", held)
    third = asyncio.create_task(lanes.submit("c", held))
    await asyncio.sleep(0.02)
    assert not third.done()
    release.set()
    await asyncio.wait_for(third, 2)
    await asyncio.wait_for(lanes.join(), 2)


async def test_close_cancels_the_jobs_left_even_when_its_caller_gives_up_first() -> None:
    lanes = KeyedLanes("t", max_concurrent=10, max_pending=100)
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def endless() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    await lanes.submit("a", endless)
    await started.wait()
    # The caller's own deadline ends close() before close's timeout does.
    closing = asyncio.create_task(lanes.close(timeout_seconds=60))
    await asyncio.sleep(0.01)
    closing.cancel()
    await asyncio.gather(closing, return_exceptions=True)

    assert cancelled.is_set(), "no job outlives close"
    assert lanes.pending == 0


async def test_closing_idle_lanes_at_once_warns_of_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lanes = KeyedLanes("t", max_concurrent=2, max_pending=10)
    done = asyncio.Event()

    async def job() -> None:
        done.set()

    await lanes.submit("a", job)
    await done.wait()
    await lanes.join()
    # The daemon stops a drained service with no time left to wait: nothing was given up.
    with caplog.at_level(logging.WARNING):
        await lanes.close(timeout_seconds=0)
    assert "gave up waiting" not in caplog.text
