"""The in-process bus: events fanned out and commands to their one handler, with bounded
queues and a drain on stop. The first adapter of the `Bus` port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from minibot.core.commands import Command
from minibot.core.envelope import Envelope
from minibot.core.errors import NoHandler
from minibot.core.events import Event
from minibot.shared.correlation import correlated, correlation_id, in_component
from minibot.shared.trace_context import traced, traceparent

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Event | Command)
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
    message_type: type[Any]
    handler: Handler
    queue: asyncio.Queue[Envelope]
    inline: bool = False
    worker: asyncio.Task[None] | None = None


class EventBus:
    """Publish/subscribe for `Event`s and `Command`s (the `Bus` port, in one process).

    Every subscriber whose type matches an event (its type or a base type) receives it, in
    publish order, from its own bounded queue served by its own task: a slow or failing
    subscriber never holds up another. A command type has exactly one subscriber: a
    second is refused at `subscribe`, and a command with none raises `NoHandler`.
    `publish` waits while a matching subscriber's queue is full (backpressure). An event
    handler that raises is logged and counted; the bus goes on. An inline command
    handler's failure reaches the publisher. Each message travels in an `Envelope`: the
    correlation id and the traceparent current at `publish` are current again inside
    every handler. An event no subscriber wants is dropped at once. `stop`
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
        self._routes: dict[type[Event | Command], list[_Subscriber]] = {}
        self._published = 0
        self._delivered = 0
        self._failed = 0
        self._unfinished = 0
        self._running = False
        self._closed = False

    def subscribe(
        self,
        message_type: type[M],
        handler: Callable[[M], Awaitable[None]],
        *,
        name: str,
        inline: bool = False,
    ) -> None:
        if self._running:
            raise RuntimeError("subscribe before the bus starts")
        if issubclass(message_type, Command):
            taken = [
                s.name
                for s in self._subscribers
                if issubclass(s.message_type, message_type)
                or issubclass(message_type, s.message_type)
            ]
            if taken:
                raise ValueError(
                    f"{message_type.__name__} is a command and already handled by {taken[0]}"
                )
        queue: asyncio.Queue[Envelope] = asyncio.Queue(self._queue_size)
        subscriber = _Subscriber(name, message_type, handler, queue, inline)
        self._subscribers.append(subscriber)
        self._routes.clear()

    async def publish(self, message: Event | Command) -> None:
        if self._closed:
            raise RuntimeError(f"bus is stopped; {type(message).__name__} not published")
        route = self._route(type(message))
        if not route:
            if isinstance(message, Command):
                raise NoHandler(type(message).__name__)
            # A fact nobody listens to (metrics off, say) costs no envelope.
            return
        self._published += 1
        envelope = Envelope.wrap(
            message, correlation_id=correlation_id.get(), traceparent=traceparent.get()
        )
        for subscriber in route:
            if subscriber.inline:
                with in_component(subscriber.name):
                    await self._deliver(subscriber, envelope, raises=isinstance(message, Command))
                continue
            self._unfinished += 1
            await subscriber.queue.put(envelope)

    def _route(self, message_type: type[Event | Command]) -> list[_Subscriber]:
        route = self._routes.get(message_type)
        if route is None:
            route = [s for s in self._subscribers if issubclass(message_type, s.message_type)]
            self._routes[message_type] = route
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
            if not subscriber.inline:
                self._spawn(subscriber)

    def _spawn(self, subscriber: _Subscriber) -> None:
        subscriber.worker = asyncio.create_task(
            self._serve(subscriber), name=f"bus:{subscriber.name}"
        )

    async def run(self) -> None:
        """Watch the subscribers' workers for the daemon's supervisor. A worker never
        ends while the bus runs (a failing handler is caught and counted); if one does,
        it is started again at once, so its queue keeps moving, and its error is raised
        to be logged with its traceback."""
        while self._running and not self._closed:
            workers = {s.worker: s for s in self._subscribers if s.worker is not None}
            if not workers:
                return
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
            if self._closed:
                return
            for worker in done:
                self._spawn(workers[worker])
            for worker in done:
                error = None if worker.cancelled() else worker.exception()
                raise error or RuntimeError(f"bus worker {workers[worker].name} ended")

    async def _serve(self, subscriber: _Subscriber) -> None:
        with in_component(subscriber.name):
            while True:
                envelope = await subscriber.queue.get()
                try:
                    await self._deliver(subscriber, envelope)
                finally:
                    self._unfinished -= 1
                    subscriber.queue.task_done()

    async def _deliver(
        self, subscriber: _Subscriber, envelope: Envelope, *, raises: bool = False
    ) -> None:
        cid = envelope.correlation_id
        try:
            with correlated(cid), traced(envelope.traceparent):
                await subscriber.handler(envelope.payload)
            self._delivered += 1
        except asyncio.CancelledError:
            raise
        except Exception:
            self._failed += 1
            if raises:
                raise
            with correlated(cid):
                log.exception(
                    "subscriber failed",
                    extra={"subscriber": subscriber.name, "event": envelope.type},
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
