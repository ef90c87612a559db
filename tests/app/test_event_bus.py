"""The event bus: fan-out, backpressure, failing subscribers, drain on stop, counters."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest

from minibot.app.event_bus import EventBus
from minibot.app.lanes import KeyedLanes
from minibot.core.commands import Command
from minibot.core.errors import NoHandler
from minibot.core.events import Event
from minibot.shared.correlation import component, correlated, correlation_id
from minibot.shared.trace_context import traced, traceparent


@dataclass(frozen=True, slots=True)
class Ping(Event):
    n: int


@dataclass(frozen=True, slots=True)
class Other(Event):
    pass


async def test_every_matching_subscriber_receives_every_event_in_order() -> None:
    bus = EventBus(queue_size=10)
    seen_a: list[int] = []
    seen_b: list[int] = []
    seen_other: list[Event] = []

    async def a(event: Ping) -> None:
        seen_a.append(event.n)

    async def b(event: Ping) -> None:
        seen_b.append(event.n)

    async def other(event: Other) -> None:
        seen_other.append(event)

    bus.subscribe(Ping, a, name="a")
    bus.subscribe(Ping, b, name="b")
    bus.subscribe(Other, other, name="other")
    await bus.start()
    for n in range(5):
        await bus.publish(Ping(n))
    await bus.stop()
    assert seen_a == [0, 1, 2, 3, 4]
    assert seen_b == [0, 1, 2, 3, 4]
    assert seen_other == []
    assert bus.stats.published == 5
    assert bus.stats.delivered == 10


async def test_publish_waits_while_a_subscriber_queue_is_full() -> None:
    bus = EventBus(queue_size=2)
    release = asyncio.Event()

    async def slow(event: Ping) -> None:
        await release.wait()

    bus.subscribe(Ping, slow, name="slow")
    await bus.start()
    # One event is taken by the worker, two fill the queue; the fourth must wait.
    for n in range(3):
        await asyncio.wait_for(bus.publish(Ping(n)), 1)
    await asyncio.sleep(0)
    fourth = asyncio.create_task(bus.publish(Ping(3)))
    await asyncio.sleep(0.05)
    assert not fourth.done(), "publish should block while the queue is full"
    assert bus.stats.queue_depth == 2
    release.set()
    await asyncio.wait_for(fourth, 2)
    await bus.stop()
    assert bus.stats.delivered == 4


async def test_a_failing_subscriber_is_logged_and_others_still_receive(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    received: list[int] = []

    async def broken(event: Ping) -> None:
        raise RuntimeError("boom")

    async def healthy(event: Ping) -> None:
        received.append(event.n)

    bus.subscribe(Ping, broken, name="broken")
    bus.subscribe(Ping, healthy, name="healthy")
    await bus.start()
    with caplog.at_level(logging.ERROR):
        for n in range(3):
            await bus.publish(Ping(n))
        await bus.stop()
    assert received == [0, 1, 2]
    assert bus.stats.failed == 3
    assert "subscriber failed" in caplog.text


async def test_stop_drains_queued_events_and_refuses_new_ones_after() -> None:
    bus = EventBus(queue_size=100)
    handled: list[int] = []

    async def slowish(event: Ping) -> None:
        await asyncio.sleep(0.001)
        handled.append(event.n)

    bus.subscribe(Ping, slowish, name="slowish")
    await bus.start()
    for n in range(50):
        await bus.publish(Ping(n))
    await bus.stop()
    assert handled == list(range(50))
    with pytest.raises(RuntimeError):
        await bus.publish(Ping(99))


async def test_correlation_id_of_the_publisher_is_current_in_the_handler() -> None:
    bus = EventBus()
    seen: list[str | None] = []

    async def record(event: Ping) -> None:
        await asyncio.sleep(0)
        seen.append(correlation_id.get())

    bus.subscribe(Ping, record, name="record")
    await bus.start()
    with correlated("cid-1"):
        await bus.publish(Ping(1))
    with correlated("cid-2"):
        await bus.publish(Ping(2))
    await bus.stop()
    assert seen == ["cid-1", "cid-2"]


async def test_an_inline_subscriber_is_served_within_publish() -> None:
    bus = EventBus(queue_size=10)
    seen: list[tuple[int, str | None, str | None]] = []

    async def inline(event: Ping) -> None:
        seen.append((event.n, correlation_id.get(), component.get()))
        if event.n == 1:
            raise RuntimeError("boom")

    bus.subscribe(Ping, inline, name="lanes", inline=True)
    await bus.start()
    with correlated("cid-7"):
        await bus.publish(Ping(0))
        assert seen == [(0, "cid-7", "lanes")], "handled before publish returns"
        await bus.publish(Ping(1))  # a failing handler does not fail the publisher

    assert bus.stats.delivered == 1
    assert bus.stats.failed == 1
    assert not bus.busy
    await bus.stop()


@dataclass(frozen=True, slots=True)
class Shout(Command):
    text: str


async def test_a_command_goes_to_its_one_handler_and_a_second_is_refused() -> None:
    bus = EventBus(queue_size=10)
    heard: list[str] = []

    async def handle(command: Shout) -> None:
        heard.append(command.text)

    bus.subscribe(Shout, handle, name="shouter")
    with pytest.raises(ValueError, match="shouter"):
        bus.subscribe(Shout, handle, name="second")
    with pytest.raises(ValueError, match="shouter"):
        bus.subscribe(Command, handle, name="catch-all")
    await bus.start()
    await bus.publish(Shout("hi"))
    await bus.stop()
    assert heard == ["hi"]


async def test_a_command_nobody_handles_is_an_error_not_a_silent_drop() -> None:
    bus = EventBus(queue_size=10)
    await bus.start()
    with pytest.raises(NoHandler, match="Shout"):
        await bus.publish(Shout("anyone?"))
    await bus.stop()
    assert bus.stats.published == 0


async def test_an_inline_command_handler_failure_reaches_the_publisher() -> None:
    bus = EventBus(queue_size=10)

    async def broken(command: Shout) -> None:
        raise RuntimeError("cannot shout")

    bus.subscribe(Shout, broken, name="shouter", inline=True)
    await bus.start()
    with pytest.raises(RuntimeError, match="cannot shout"):
        await bus.publish(Shout("hi"))
    await bus.stop()


async def test_a_dead_worker_is_restarted_at_once_and_reported_to_the_supervisor() -> None:
    bus = EventBus(queue_size=10)
    seen: list[int] = []

    async def record(event: Ping) -> None:
        seen.append(event.n)

    bus.subscribe(Ping, record, name="recorder")
    await bus.start()
    watcher = asyncio.create_task(bus.run())
    await asyncio.sleep(0)
    worker = bus._subscribers[0].worker
    assert worker is not None
    worker.cancel()  # a worker ending while the bus runs, whatever the cause
    with pytest.raises(RuntimeError, match="recorder"):
        await asyncio.wait_for(watcher, 5)
    await bus.publish(Ping(1))
    await asyncio.wait_for(bus.join(), 5)
    assert seen == [1]
    watcher = asyncio.create_task(bus.run())  # the supervisor's restart
    await bus.stop()
    assert await asyncio.wait_for(watcher, 5) is None


async def test_the_traceparent_of_the_publisher_is_current_in_the_handler_and_its_lane() -> None:
    bus = EventBus()
    lanes = KeyedLanes("test", max_concurrent=2, max_pending=8)
    seen: list[str | None] = []
    done = asyncio.Event()

    async def in_lane() -> None:
        seen.append(traceparent.get())
        done.set()

    async def record(event: Ping) -> None:
        seen.append(traceparent.get())
        with traced(None):  # the lane keeps what was current at submit
            pass
        await lanes.submit("k", in_lane)

    bus.subscribe(Ping, record, name="record")
    await bus.start()
    parent = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    with traced(parent):
        await bus.publish(Ping(1))
    await asyncio.wait_for(done.wait(), 5)
    await bus.stop()
    await lanes.close(1)
    assert seen == [parent, parent]


async def test_an_event_nobody_subscribes_to_is_dropped_at_once() -> None:
    bus = EventBus()
    bus.subscribe(Ping, _ignore, name="pings")
    await bus.start()
    await bus.publish(Other())
    await bus.publish(Ping(1))
    await bus.stop()
    assert bus.stats.published == 1


async def _ignore(event: Ping) -> None:
    return None
