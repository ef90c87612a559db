"""The buses the bus contract suite runs over: the in-process bus, and RabbitMQ on this
machine's broker in a namespace of the test's own (its queues deleted afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from minibot.adapters.bus.rabbitmq_bus import RabbitMqBus
from minibot.app.event_bus import EventBus
from minibot.core.envelope import EnvelopeCodec
from tests.core.test_envelope import payload_types
from tests.services import require_service

RABBITMQ_URL = os.environ.get("MINIBOT_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
PARTITIONS = 4


class MemoryBackend:
    """One process: every bus it makes is on its own, so replica tests do not apply."""

    name = "memory"
    replicas = False

    def bus(self) -> Any:
        return EventBus(queue_size=64)

    async def cleanup(self) -> None:
        return None


class RabbitMqBackend:
    """Buses sharing one broker namespace: each is one replica."""

    name = "rabbitmq"
    replicas = True

    def __init__(self) -> None:
        self.namespace = f"minibot-test-{uuid.uuid4().hex[:10]}"
        self.url = RABBITMQ_URL
        self.partitions = PARTITIONS
        self._made = 0

    def bus(self) -> RabbitMqBus:
        self._made += 1
        return RabbitMqBus(
            url=self.url,
            partitions=self.partitions,
            namespace=self.namespace,
            codec=EnvelopeCodec(payload_types()),
            replica=f"test-replica-{self._made}",
            reconnect_delay_seconds=0.2,
        )

    async def cleanup(self) -> None:
        import aio_pika

        connection = await aio_pika.connect(self.url)
        async with connection:
            channel = await connection.channel()
            names = [f"{self.namespace}.bus.p{p}" for p in range(self.partitions)]
            for name in [*names, f"{self.namespace}.bus.dead"]:
                await channel.queue_delete(name)


@asynccontextmanager
async def backend(name: str) -> AsyncIterator[MemoryBackend | RabbitMqBackend]:
    if name == "memory":
        yield MemoryBackend()
        return
    require_service("rabbitmq")
    rabbit = RabbitMqBackend()
    try:
        yield rabbit
    finally:
        await rabbit.cleanup()
