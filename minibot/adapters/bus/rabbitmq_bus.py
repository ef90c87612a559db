"""The bus between processes, on RabbitMQ: the `Bus` port's second adapter (aio-pika).

Every message goes to one of K durable quorum queues, picked by a stable hash of its
conversation key, so one conversation's messages keep their order across replicas: each
queue has single-active-consumer, and every replica consumes every queue with manual
acknowledgement. A message is handed to its handlers in delivery order, one at a time
per queue, and acknowledged only once all the work it set off has run (its `Receipt`:
the conversation turn, the delivery), so a replica that dies loses nothing: the broker
delivers what it had not acknowledged to the next consumer. `prefetch` bounds how many
such messages one queue may have under way (1 would also serialise the turns of every
conversation sharing the queue). Publisher confirms: `publish` returns only once the
broker has the message, so nothing is acknowledged upstream (a Telegram update
confirmed, an inbox item handed on) before it is safe on the broker."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from minibot.app.bus_routes import BusRoutes, Route
from minibot.core.backoff import Backoff
from minibot.core.commands import Command
from minibot.core.envelope import Envelope, EnvelopeCodec
from minibot.core.errors import NoHandler
from minibot.core.events import Event
from minibot.core.health import Health, HealthBoard
from minibot.core.partitions import partition_of, subscription_order
from minibot.shared.correlation import correlated, correlation_id, in_component
from minibot.shared.receipts import Receipt, current_receipt
from minibot.shared.trace_context import traced, traceparent

if TYPE_CHECKING:
    from aio_pika.abc import (
        AbstractChannel,
        AbstractIncomingMessage,
        AbstractQueue,
        AbstractRobustConnection,
    )

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Event | Command)

# The health condition degraded while the broker is away.
BROKER = "broker"
# Message ids of envelopes handled here, remembered so a redelivered one is acknowledged
# without running its handlers again (a lost ack, a reconnect).
_SEEN_MESSAGE_IDS = 65536
# Tries at consuming before a start-up gives up (with back-off: about a minute).
_OPEN_ATTEMPTS = 10


def replica_name() -> str:
    """This process among the replicas: host and pid (shown in the broker's UI)."""
    return f"{socket.gethostname()}-{os.getpid()}"


class RabbitMqBus:
    """Publish/subscribe across processes with the promises of the `Bus` port, and these
    differences from the in-process bus: every replica registers the same handlers, and
    a message is handled by the one replica active on its partition (events reach every
    subscriber there); a handler's failure is logged, never returned to the publisher in
    another process; a command with no handler in this process raises `NoHandler`.

    A message whose consumer dies before acknowledging it is delivered again (to the next
    active consumer); its message id is remembered once handled, so this process never
    runs one envelope twice, and across processes the inbox and the delivery ledger
    (keyed by the update and the turn) answer it once. While the broker is away, `publish`
    waits and retries with back-off (the connection reconnects on its own) and `health`
    reports degraded."""

    def __init__(
        self,
        *,
        url: str,
        partitions: int,
        namespace: str,
        codec: EnvelopeCodec,
        replica: str | None = None,
        reconnect_delay_seconds: float = 1.0,
        max_reconnect_delay_seconds: float = 10.0,
        drain_timeout_seconds: float = 5.0,
        heartbeat_seconds: int = 5,
        prefetch: int = 32,
        defer_intake: bool = False,
    ) -> None:
        self._url = url
        self._partitions = partitions
        self._namespace = namespace
        self._codec = codec
        self._replica = replica or replica_name()
        self._reconnect_delay_seconds = reconnect_delay_seconds
        self._backoff = Backoff(reconnect_delay_seconds, max_reconnect_delay_seconds, jitter=0.5)
        self._drain_timeout_seconds = drain_timeout_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self._prefetch = prefetch
        # In a daemon nothing is consumed until `open_intake`, once every service has
        # started: a replica that took a SendReply before its channel had started would
        # fail it, and the broker would count it handled.
        self._defer_intake = defer_intake
        self._consumer_channel: AbstractChannel | None = None
        self._routes = BusRoutes()
        self._board = HealthBoard()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractChannel | None = None
        self._consumers: list[tuple[AbstractQueue, str]] = []
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._running = False
        self._closed = False
        self.published = 0
        self.delivered = 0
        self.redelivered = 0
        self.failed = 0

    @property
    def name(self) -> str:
        return "bus"

    @property
    def health(self) -> Health:
        return self._board.health

    @property
    def busy(self) -> bool:
        return self._in_flight > 0

    def queue_name(self, partition: int) -> str:
        return f"{self._namespace}.bus.p{partition}"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self._namespace}.bus.dead"

    def subscribe(
        self,
        message_type: type[M],
        handler: Callable[[M], Awaitable[None]],
        *,
        name: str,
        inline: bool = False,
    ) -> None:
        # Every handler runs inline in its partition's consumer, in delivery order: the
        # queue is the buffer.
        if self._running:
            raise RuntimeError("subscribe before the bus starts")
        self._routes.add(message_type, handler, name)

    async def start(self) -> None:
        if self._running:
            return
        import aio_pika

        self._closed = False
        self._idle.set()
        # The heartbeat is how the broker finds a replica that hangs (stopped, frozen): it
        # closes the connection, and the hung replica's partitions and unacknowledged
        # messages go to the next consumer.
        connection = await aio_pika.connect_robust(
            self._url,
            reconnect_interval=self._reconnect_delay_seconds,
            heartbeat=self._heartbeat_seconds,
            name=f"minibot {self._namespace} {self._replica}",
        )
        self._connection = connection
        connection.close_callbacks.add(self._on_close)
        connection.reconnect_callbacks.add(self._on_reconnect)
        self._publisher = await connection.channel(publisher_confirms=True)
        # Declared here, so a publish finds its queue before this replica consumes.
        await self._declare_queues(self._publisher)
        if not self._defer_intake:
            await self.open_intake()
        self._running = True
        self._board.started()
        log.info(
            "rabbitmq bus connected",
            extra={
                "namespace": self._namespace,
                "partitions": self._partitions,
                "replica": self._replica,
                "first_partition": partition_of(self._replica, self._partitions),
            },
        )

    async def run(self) -> None:
        """Nothing to supervise: aio-pika's robust connection reconnects on its own and
        `health` says when the broker is away."""
        await asyncio.Event().wait()

    async def publish(self, message: Event | Command) -> None:
        if self._closed or self._publisher is None:
            raise RuntimeError(f"bus is stopped; {type(message).__name__} not published")
        if not self._routes.of(type(message)):
            if isinstance(message, Command):
                raise NoHandler(type(message).__name__)
            return  # every replica registers the same handlers: nobody anywhere wants it
        envelope = Envelope.wrap(
            message, correlation_id=correlation_id.get(), traceparent=traceparent.get()
        )
        partition = partition_of(envelope.ordering_key or envelope.message_id, self._partitions)
        await self._confirmed(envelope, self.queue_name(partition))
        self.published += 1

    async def _confirmed(self, envelope: Envelope, queue: str) -> None:
        """Publishes until the broker confirms: a publish cut off by a lost connection is
        tried again once it is back (the consumer side drops the copy, by message id)."""
        import aio_pika

        body = self._codec.dumps(envelope).encode()
        attempt = 0
        while True:
            publisher = self._publisher
            if publisher is None or self._closed:
                raise RuntimeError(f"bus is stopped; {envelope.type} not published")
            try:
                await publisher.default_exchange.publish(
                    aio_pika.Message(
                        body,
                        message_id=envelope.message_id,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=queue,
                    mandatory=True,
                )
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                delay = self._backoff.delay(attempt)
                self._board.degrade(BROKER, "the RabbitMQ broker does not confirm publishes")
                log.warning(
                    "rabbitmq publish not confirmed; trying again",
                    extra={"error": repr(exc), "attempt": attempt, "delay_seconds": delay},
                )
                await asyncio.sleep(delay)

    async def _on_message(self, order: asyncio.Lock, message: AbstractIncomingMessage) -> None:
        self._in_flight += 1
        self._idle.clear()
        try:
            await self._handle(order, message)
        except Exception as exc:
            # The channel went away under us (the broker, a stop): never acknowledged, so
            # the broker delivers the message again.
            log.warning("bus message not settled", extra={"error": repr(exc)})
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _handle(self, order: asyncio.Lock, message: AbstractIncomingMessage) -> None:
        """Hands the message to its handlers in delivery order (one at a time per queue),
        then acknowledges it once all the work it set off has run (its `Receipt`), or
        returns it to the queue if a handler failed."""
        receipt = Receipt()
        async with order:
            envelope = await self._admit(message)
            if envelope is None:
                return
            token = current_receipt.set(receipt)
            try:
                handled = [
                    await self._deliver(r, envelope)
                    for r in self._routes.of(type(envelope.payload))
                ]
            finally:
                current_receipt.reset(token)
        receipt.release()
        if not all(handled):
            await message.nack(requeue=True)
            return
        await receipt.settled()
        self._remember(envelope.message_id)
        await message.ack()

    async def _admit(self, message: AbstractIncomingMessage) -> Envelope | None:
        """The envelope to handle, or None once a message not to handle was settled."""
        try:
            envelope = self._codec.loads(message.body)
        except (ValueError, TypeError, KeyError) as exc:
            # Kept for an operator in the dead-letter queue, never redelivered in a loop.
            log.error(
                "unreadable bus message set aside",
                extra={"queue": self.dead_letter_queue, "error": str(exc)},
            )
            await message.reject(requeue=False)
            return None
        if envelope.message_id in self._seen:
            self.redelivered += 1
            await message.ack()
            return None
        if not self._routes.of(type(envelope.payload)):
            # Replicas of another wiring share the namespace: kept, never dropped.
            log.error(
                "bus message nobody here handles set aside",
                extra={"queue": self.dead_letter_queue, "event": envelope.type},
            )
            await message.reject(requeue=False)
            return None
        return envelope

    async def _deliver(self, route: Route, envelope: Envelope) -> bool:
        with (
            in_component(route.name),
            correlated(envelope.correlation_id),
            traced(envelope.traceparent),
        ):
            try:
                await route.handler(envelope.payload)
                self.delivered += 1
                return True
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failed += 1
                log.exception(
                    "subscriber failed; the message goes back to its queue",
                    extra={"subscriber": route.name, "event": envelope.type},
                )
                return False

    def _remember(self, message_id: str) -> None:
        self._seen[message_id] = None
        if len(self._seen) > _SEEN_MESSAGE_IDS:
            self._seen.popitem(last=False)

    def _on_close(self, _sender: Any, exc: BaseException | None = None) -> None:
        if self._closed:
            return
        self._board.degrade(BROKER, "the RabbitMQ broker is unreachable; reconnecting")
        log.warning("rabbitmq connection lost; reconnecting", extra={"error": repr(exc)})

    def _on_reconnect(self, _sender: Any) -> None:
        self._board.recover(BROKER)
        log.info("rabbitmq connection restored")

    async def join(self) -> None:
        await self._idle.wait()

    async def _declare_queues(self, channel: AbstractChannel) -> list[AbstractQueue]:
        await channel.declare_queue(
            self.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        start = partition_of(self._replica, self._partitions)
        return [
            await channel.declare_queue(
                self.queue_name(partition),
                durable=True,
                arguments={
                    "x-queue-type": "quorum",
                    "x-single-active-consumer": True,
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": self.dead_letter_queue,
                },
            )
            for partition in subscription_order(self._partitions, start)
        ]

    async def open_intake(self) -> None:
        """Starts consuming every partition (in this replica's rotated order); once. The
        connection lost meanwhile (seen at start-up under load: the broker reset every
        replica's connection) is tried again on a fresh channel, never a failed start."""
        if self._consumers or not self._routes.subscribed:
            return
        attempt = 0
        while True:
            try:
                await self._consume_all()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                attempt += 1
                await self._cancel_consumers()
                channel, self._consumer_channel = self._consumer_channel, None
                if channel is not None and not channel.is_closed:
                    with contextlib.suppress(Exception):
                        await channel.close()
                if attempt >= _OPEN_ATTEMPTS:
                    raise
                delay = self._backoff.delay(attempt)
                log.warning(
                    "rabbitmq consumers not started; trying again",
                    extra={"error": repr(exc), "attempt": attempt, "delay_seconds": delay},
                )
                await asyncio.sleep(delay)

    async def _consume_all(self) -> None:
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=False)
        self._consumer_channel = channel
        await channel.set_qos(prefetch_count=self._prefetch)
        for queue in await self._declare_queues(channel):
            callback = functools.partial(self._on_message, asyncio.Lock())
            tag = await queue.consume(callback, no_ack=False)
            self._consumers.append((queue, tag))

    async def close_intake(self) -> None:
        """Takes no new messages (they go to other replicas, or wait for the restart);
        those under way are still handled and acknowledged."""
        await self._cancel_consumers()

    async def _cancel_consumers(self) -> None:
        for queue, tag in self._consumers:
            try:
                await queue.cancel(tag)
            except Exception as exc:
                log.warning("rabbitmq consumer not cancelled", extra={"error": repr(exc)})
        self._consumers.clear()

    async def stop(self, drain_timeout_seconds: float | None = None) -> None:
        """Stops consuming, lets the handlers under way finish (unfinished ones are
        delivered again elsewhere, as they were never acknowledged), then closes."""
        if self._connection is None:
            return
        await self._cancel_consumers()
        timeout = (
            self._drain_timeout_seconds if drain_timeout_seconds is None else drain_timeout_seconds
        )
        try:
            await asyncio.wait_for(self.join(), timeout)
        except TimeoutError:
            log.warning("bus drain timed out", extra={"in_flight": self._in_flight})
        self._closed = True
        connection, self._connection, self._publisher = self._connection, None, None
        await connection.close()
        self._running = False
        self._board.stopped()
        log.info(
            "bus stopped",
            extra={
                "published": self.published,
                "delivered": self.delivered,
                "failed": self.failed,
                "redelivered": self.redelivered,
            },
        )
