"""Keyed lanes: in order per key, concurrent across keys, capped, failures contained."""

from __future__ import annotations

import asyncio
import logging

import pytest

from minibot.app.lanes import KeyedLanes


async def test_work_of_one_key_runs_in_order_and_keys_run_concurrently() -> None:
    lanes = KeyedLanes("t", max_concurrent=10, max_pending=100)
    log: list[str] = []
    slow_started = asyncio.Event()
    release = asyncio.Event()

    async def slow() -> None:
        slow_started.set()
        await release.wait()
        log.append("a1")

    def record(name: str):
        async def work() -> None:
            log.append(name)

        return work

    await lanes.submit("a", slow)
    await lanes.submit("a", record("a2"))
    await slow_started.wait()
    await lanes.submit("b", record("b1"))
    await asyncio.sleep(0.02)
    assert log == ["b1"], "b must not wait behind a's slow work"
    release.set()
    await asyncio.wait_for(lanes.join(), 2)
    assert log == ["b1", "a1", "a2"]


async def test_concurrency_is_capped() -> None:
    lanes = KeyedLanes("t", max_concurrent=3, max_pending=100)
    running = 0
    peak = 0

    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    for key in range(12):
        await lanes.submit(key, work)
    await asyncio.wait_for(lanes.join(), 5)
    assert peak == 3


async def test_a_failing_work_item_does_not_stop_its_lane() -> None:
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


async def test_a_failing_work_item_is_logged_as_failed_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # "Job" means a scheduled job (core/jobs.py); the lanes' log lines must not say it.
    lanes = KeyedLanes("t", max_concurrent=2, max_pending=10)

    async def broken() -> None:
        raise ValueError("nope")

    with caplog.at_level(logging.ERROR):
        await lanes.submit("k", broken)
        await asyncio.wait_for(lanes.join(), 2)
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["work failed"]
    # The line and its fields, not the traceback (whose file paths may say anything).
    fields = [
        f"{record.getMessage()} {record.__dict__.get('lane', '')}" for record in caplog.records
    ]
    assert all("job" not in text.lower() for text in fields)


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


async def test_close_cancels_the_work_left_even_when_its_caller_gives_up_first() -> None:
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

    assert cancelled.is_set(), "no work outlives close"
    assert lanes.pending == 0


async def test_closing_idle_lanes_at_once_warns_of_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lanes = KeyedLanes("t", max_concurrent=2, max_pending=10)
    done = asyncio.Event()

    async def work() -> None:
        done.set()

    await lanes.submit("a", work)
    await done.wait()
    await lanes.join()
    # The daemon stops a drained service with no time left to wait: nothing was given up.
    with caplog.at_level(logging.WARNING):
        await lanes.close(timeout_seconds=0)
    assert "gave up waiting" not in caplog.text


async def test_close_past_its_timeout_warns_of_the_pending_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lanes = KeyedLanes("t", max_concurrent=2, max_pending=10)
    started = asyncio.Event()

    async def endless() -> None:
        started.set()
        await asyncio.Event().wait()

    await lanes.submit("a", endless)
    await lanes.submit("a", endless)
    await started.wait()
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(lanes.close(timeout_seconds=0.05), 5)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == ["gave up waiting for pending work"]
    assert warnings[0].__dict__["pending"] == 2
    assert "job" not in caplog.text.lower()


async def test_each_work_runs_under_the_receipt_it_was_submitted_with() -> None:
    # The lane's task starts under the first item's receipt; a later item's work must see
    # its own, or what it hands on would be owed to a message already acknowledged.
    from minibot.shared.receipts import Receipt, current_receipt

    lanes = KeyedLanes("t", max_concurrent=10, max_pending=100)
    first, second = Receipt(), Receipt()
    seen: list[Receipt | None] = []
    release = asyncio.Event()

    async def work() -> None:
        await release.wait()
        seen.append(current_receipt.get())

    for receipt in (first, second):
        token = current_receipt.set(receipt)
        try:
            await lanes.submit("a", work)
        finally:
            current_receipt.reset(token)
    release.set()
    await asyncio.wait_for(lanes.join(), 2)
    assert seen == [first, second]
