"""The in-process event bus: typed fan-out with bounded queues and a drain on stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from minibot.core.events import Event
from minibot.shared.correlation import correlated, correlation_id, in_component

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BusStats:
    published: int
    delivered: int
    failed: int
    queue_depth: int


@dataclass(slots=True)
class _Subscriber:
    name: str
    event_type: type[Event]
    handler: Handler
    queue: asyncio.Queue[tuple[Event, str | None]]
    inline: bool = False
    worker: asyncio.Task[None] | None = None


class EventBus:
    """Publish/subscribe for `Event`s.

    Every subscriber whose type matches an event (by isinstance) receives it, in publish
    order, from its own bounded queue served by its own task: a slow or failing subscriber
    never holds up another. `publish` waits while a matching subscriber's queue is full
    (backpressure). A handler that raises is logged and counted; the bus goes on. The
    correlation id current at `publish` is current again inside every handler. `stop`
    lets queued events drain (up to `drain_timeout_seconds`; handlers may still publish
    while draining), then refuses new events and cancels the workers.

    An `inline` subscriber has no queue or task of its own: `publish` awaits its handler
    directly, saving a task switch per event. Only for handlers that just hand the event
    on (to lanes, whose room is the backpressure) and never publish back into their own
    path.
    """

    def __init__(self, queue_size: int = 1024) -> None:
        self._queue_size = queue_size
        self._subscribers: list[_Subscriber] = []
        self._routes: dict[type[Event], list[_Subscriber]] = {}
        self._published = 0
        self._delivered = 0
        self._failed = 0
        self._unfinished = 0
        self._running = False
        self._closed = False

    def subscribe(
        self,
        event_type: type[E],
        handler: Callable[[E], Awaitable[None]],
        *,
        name: str,
        inline: bool = False,
    ) -> None:
        if self._running:
            raise RuntimeError("subscribe before the bus starts")
        queue: asyncio.Queue[tuple[Event, str | None]] = asyncio.Queue(self._queue_size)
        self._subscribers.append(_Subscriber(name, event_type, handler, queue, inline))
        self._routes.clear()

    async def publish(self, event: Event) -> None:
        if self._closed:
            raise RuntimeError(f"bus is stopped; {type(event).__name__} not published")
        self._published += 1
        cid = correlation_id.get()
        for subscriber in self._route(type(event)):
            if subscriber.inline:
                with in_component(subscriber.name):
                    await self._deliver(subscriber, event, cid)
                continue
            self._unfinished += 1
            await subscriber.queue.put((event, cid))

    def _route(self, event_type: type[Event]) -> list[_Subscriber]:
        route = self._routes.get(event_type)
        if route is None:
            route = [s for s in self._subscribers if issubclass(event_type, s.event_type)]
            self._routes[event_type] = route
        return route

    @property
    def stats(self) -> BusStats:
        depth = sum(s.queue.qsize() for s in self._subscribers)
        return BusStats(self._published, self._delivered, self._failed, depth)

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._closed = False
        for subscriber in self._subscribers:
            if subscriber.inline:
                continue
            subscriber.worker = asyncio.create_task(
                self._serve(subscriber), name=f"bus:{subscriber.name}"
            )

    async def _serve(self, subscriber: _Subscriber) -> None:
        with in_component(subscriber.name):
            while True:
                event, cid = await subscriber.queue.get()
                try:
                    await self._deliver(subscriber, event, cid)
                finally:
                    self._unfinished -= 1
                    subscriber.queue.task_done()

    async def _deliver(self, subscriber: _Subscriber, event: Event, cid: str | None) -> None:
        try:
            with correlated(cid):
                await subscriber.handler(event)
            self._delivered += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            self._failed += 1
            with correlated(cid):
                log.exception(
                    "subscriber failed",
                    extra={"subscriber": subscriber.name, "event": type(event).__name__},
                )

    @property
    def name(self) -> str:
        return "bus"

    @property
    def busy(self) -> bool:
        return self._unfinished > 0

    async def join(self) -> None:
        """Wait until every queued event has been handled."""
        for subscriber in self._subscribers:
            await subscriber.queue.join()

    async def stop(self, drain_timeout_seconds: float = 5.0) -> None:
        if not self._running:
            return
        try:
            await asyncio.wait_for(self.join(), drain_timeout_seconds)
        except TimeoutError:
            log.warning("bus drain timed out", extra={"queue_depth": self.stats.queue_depth})
        self._closed = True
        workers = [s.worker for s in self._subscribers if s.worker is not None]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._running = False
        stats = self.stats
        log.info(
            "bus stopped",
            extra={
                "published": stats.published,
                "delivered": stats.delivered,
                "failed": stats.failed,
                "queue_depth": stats.queue_depth,
            },
        )
