"""The live feed: every stream gets each event in order, in batches, never slowing emit."""

from __future__ import annotations

import asyncio

import pytest

from minibot.app.live.live_feed import _QUEUE_SIZE, LiveFeed

pytestmark = pytest.mark.timeout(10)


async def test_each_stream_gets_every_event_in_order_in_one_batch() -> None:
    feed = LiveFeed()
    async with feed.stream() as one, feed.stream() as two:
        for n in range(3):
            feed.emit("reply_sent", {"conversation": "telegram:1", "n": n}, f"text {n}")
        for stream in (one, two):
            batch = await stream.next_batch(1.0)
            assert batch is not None
            assert [event.data["n"] for event in batch] == [0, 1, 2]
        assert await one.next_batch(0.01) == [], "nothing more: a keep-alive is due"
    assert feed.readers == 0


async def test_a_waiting_stream_is_woken_and_emit_starts_no_task() -> None:
    feed = LiveFeed()
    async with feed.stream() as stream:
        waiting = asyncio.create_task(stream.next_batch(5.0))
        await asyncio.sleep(0)  # the stream is now waiting
        tasks_before = len(asyncio.all_tasks())
        for n in range(100):
            feed.emit("message_received", {"n": n})
        assert len(asyncio.all_tasks()) == tasks_before, "an event must cost no task"
        batch = await waiting
        assert batch is not None and len(batch) == 100, "woken once, handed all of them"


async def test_a_slow_stream_loses_its_oldest_events_only() -> None:
    feed = LiveFeed()
    async with feed.stream() as slow, feed.stream() as fast:
        fast_seen: list[int] = []
        for n in range(_QUEUE_SIZE + 10):
            feed.emit("job_fired", {"n": n})
            if n % 100 == 99:
                fast_seen += [e.data["n"] for e in await fast.next_batch(1.0) or []]
        fast_seen += [e.data["n"] for e in await fast.next_batch(1.0) or []]
        batch = await slow.next_batch(1.0)
        assert batch is not None and len(batch) == _QUEUE_SIZE
        assert batch[0].data["n"] == 10 and batch[-1].data["n"] == _QUEUE_SIZE + 9
        assert slow.dropped == 10 and fast.dropped == 0
        assert fast_seen == list(range(_QUEUE_SIZE + 10)), "a stream keeping up loses nothing"


async def test_close_ends_streams_after_what_was_queued() -> None:
    feed = LiveFeed()
    async with feed.stream() as stream:
        waiting = asyncio.create_task(stream.next_batch(5.0))
        await asyncio.sleep(0)
        feed.close()
        assert await waiting is None, "a waiting stream ends at once"
    async with feed.stream() as late:
        assert await late.next_batch(5.0) is None, "a stream opened after the close is over"
    feed = LiveFeed()
    async with feed.stream() as stream:
        feed.emit("reply_sent", {"n": 1})
        feed.close()
        batch = await stream.next_batch(1.0)
        assert batch is not None and [e.data["n"] for e in batch] == [1]
        assert await stream.next_batch(1.0) is None
        assert [event.kind async for event in stream] == []
