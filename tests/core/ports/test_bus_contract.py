"""The Bus promises, checked on the in-process bus and on RabbitMQ (real broker).

Order per conversation key, events to every subscriber, commands to one handler, the
envelope's round trip (payload and correlation id); with RabbitMQ also across replicas:
each message handled by one replica, and a message whose consumer dies delivered again.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from minibot.core.commands import SendReply
from minibot.core.conversation import ConversationKey
from minibot.core.envelope import Envelope, EnvelopeCodec
from minibot.core.errors import NoHandler
from minibot.core.events import Event, MessageReceived
from minibot.core.messages import IncomingMessage, OutgoingMessage, Sender
from minibot.shared.correlation import correlated, correlation_id
from tests.core.ports.bus_backends import MemoryBackend, RabbitMqBackend, backend
from tests.core.test_envelope import payload_types

ROOT = Path(__file__).resolve().parents[3]
Backend = MemoryBackend | RabbitMqBackend


def received(chat: str, text: str) -> MessageReceived:
    return MessageReceived(
        IncomingMessage(
            ConversationKey("telegram", chat),
            Sender("telegram", "7", "Zoë"),
            text,
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            message_id="12",
            inbox_id=2**40,
        )
    )


def reply(chat: str, text: str) -> SendReply:
    return SendReply(OutgoingMessage(ConversationKey("telegram", chat), text, f"turn-{text}"))


async def until(condition: Callable[[], bool], limit_seconds: float = 20.0) -> None:
    # Polled: the condition is a handler's side effect in this or another process.
    async with asyncio.timeout(limit_seconds):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.fixture(params=["memory", "rabbitmq"])
async def medium(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    async with backend(request.param) as b:
        yield b


@pytest.fixture
async def started() -> AsyncIterator[Callable[[Any], Awaitable[Any]]]:
    buses: list[Any] = []

    async def start(bus: Any) -> Any:
        await bus.start()
        buses.append(bus)
        return bus

    yield start
    for bus in reversed(buses):
        await bus.stop()


def replicas_only(medium: Backend) -> None:
    if not medium.replicas:
        pytest.skip(f"the {medium.name} bus lives in one process: no other replica exists")


async def test_messages_of_one_conversation_arrive_in_publish_order(
    medium: Backend, started: Callable[[Any], Awaitable[Any]]
) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    count = 2 if medium.replicas else 1
    buses = []
    for _ in range(count):
        bus = medium.bus()

        async def record(event: MessageReceived) -> None:
            # Uneven handling times: a message on another path would overtake.
            await asyncio.sleep(random.random() / 100)
            seen[event.message.conversation.chat_id].append(int(event.message.text))

        bus.subscribe(MessageReceived, record, name="recorder")
        buses.append(await started(bus))

    async def publish_in_turn(chat: str) -> None:
        for n in range(40):
            await buses[n % count].publish(received(chat, str(n)))

    await asyncio.gather(*(publish_in_turn(chat) for chat in ("a", "b", "c", "d", "e")))
    await until(lambda: sum(len(v) for v in seen.values()) == 200)
    for chat, numbers in seen.items():
        assert numbers == list(range(40)), f"chat {chat} saw its messages out of order"


async def test_an_event_reaches_every_subscriber_once(
    medium: Backend, started: Callable[[Any], Awaitable[Any]]
) -> None:
    got: Counter[tuple[str, str]] = Counter()
    buses = []
    for _ in range(2 if medium.replicas else 1):
        bus = medium.bus()
        for name in ("first", "second"):

            async def handler(event: MessageReceived, name: str = name) -> None:
                got[(name, event.message.text)] += 1

            bus.subscribe(MessageReceived, handler, name=name)

        async def any_event(event: Event) -> None:
            if isinstance(event, MessageReceived):
                got[("base", event.message.text)] += 1

        bus.subscribe(Event, any_event, name="base")
        buses.append(await started(bus))
    for n in range(20):
        await buses[n % len(buses)].publish(received(f"chat{n}", f"m{n}"))
    await until(lambda: sum(got.values()) >= 60)
    await asyncio.sleep(0.3)  # a copy handled twice would arrive in this time
    expected = {(name, f"m{n}"): 1 for name in ("first", "second", "base") for n in range(20)}
    assert dict(got) == expected


async def test_a_command_has_exactly_one_handler(
    medium: Backend, started: Callable[[Any], Awaitable[Any]]
) -> None:
    lonely = medium.bus()
    lonely.subscribe(MessageReceived, _ignore, name="other")
    await lonely.start()
    with pytest.raises(NoHandler):
        await lonely.publish(reply("1", "nobody"))
    await lonely.stop()

    handled: Counter[str] = Counter()
    buses = []
    for _ in range(2 if medium.replicas else 1):
        bus = medium.bus()

        async def deliver(command: SendReply) -> None:
            handled[command.reply.text] += 1

        bus.subscribe(SendReply, deliver, name="reply-router")
        with pytest.raises(ValueError, match="already handled by reply-router"):
            bus.subscribe(SendReply, deliver, name="second-router")
        buses.append(await started(bus))
    for n in range(30):
        await buses[n % len(buses)].publish(reply(f"c{n % 3}", f"r{n}"))
    await until(lambda: sum(handled.values()) >= 30)
    await asyncio.sleep(0.3)
    assert handled == Counter({f"r{n}": 1 for n in range(30)})


async def _ignore(_: Any) -> None:
    return None


async def test_the_payload_and_correlation_id_arrive_unchanged(
    medium: Backend, started: Callable[[Any], Awaitable[Any]]
) -> None:
    arrived: list[tuple[MessageReceived, str | None]] = []

    async def record(event: MessageReceived) -> None:
        arrived.append((event, correlation_id.get()))

    bus = medium.bus()
    bus.subscribe(MessageReceived, record, name="recorder")
    await started(bus)
    sent = received("-100123456789012", "héllo \ud800 世界 " + "x" * 5000)
    with correlated("cid-42"):
        await bus.publish(sent)
    await until(lambda: len(arrived) == 1)
    assert arrived == [(sent, "cid-42")]


async def test_a_message_whose_consumer_dies_is_delivered_again(
    medium: Backend, started: Callable[[Any], Awaitable[Any]]
) -> None:
    replicas_only(medium)
    assert isinstance(medium, RabbitMqBackend)
    doomed = subprocess.Popen(  # noqa: ASYNC220 - started once, read in a thread
        [
            sys.executable,
            "-m",
            "tests.core.ports.bus_replica",
            medium.url,
            medium.namespace,
            str(medium.partitions),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert doomed.stdout is not None
        assert await asyncio.to_thread(doomed.stdout.readline) == "ready\n"
        survivor_got: list[str] = []

        async def record(event: MessageReceived) -> None:
            survivor_got.append(event.message.text)

        survivor = medium.bus()
        survivor.subscribe(MessageReceived, record, name="survivor")
        await started(survivor)  # after the doomed one: it waits as the standby consumer
        await survivor.publish(received("9", "only once"))
        assert await asyncio.to_thread(doomed.stdout.readline) == "got only once\n"
        await asyncio.sleep(0.3)
        assert survivor_got == [], "the standby consumer took a message the active one held"
        doomed.send_signal(signal.SIGKILL)
        await until(lambda: survivor_got == ["only once"])
        await asyncio.sleep(0.3)
        assert survivor_got == ["only once"]
    finally:
        doomed.kill()
        doomed.wait()
        if doomed.stdout is not None:
            doomed.stdout.close()


async def test_a_redelivered_envelope_is_handled_once(
    medium: Backend, started: Callable[[Any], Awaitable[Any]]
) -> None:
    """A publish tried again after a lost confirm puts the same envelope on the queue
    twice: the consumer knows it by its message id."""
    replicas_only(medium)
    assert isinstance(medium, RabbitMqBackend)
    import aio_pika

    got: list[str] = []

    async def record(event: MessageReceived) -> None:
        got.append(event.message.text)

    bus = medium.bus()
    bus.subscribe(MessageReceived, record, name="recorder")
    await started(bus)
    envelope = Envelope.wrap(received("5", "twice sent"))
    body = EnvelopeCodec(payload_types()).dumps(envelope).encode()
    queue = bus.queue_name(0)
    connection = await aio_pika.connect(medium.url)
    async with connection:
        channel = await connection.channel()
        for _ in range(2):
            await channel.default_exchange.publish(
                aio_pika.Message(body, message_id=envelope.message_id), routing_key=queue
            )
    await until(lambda: bus.redelivered == 1)
    assert got == ["twice sent"]


async def test_a_published_message_waits_on_the_broker_for_a_consumer(
    medium: Backend, started: Callable[[Any], Awaitable[Any]]
) -> None:
    """Publisher confirms: once `publish` returns the broker holds the message, so it
    survives the publisher stopping before any consumer ran."""
    replicas_only(medium)
    got: list[str] = []
    publisher = medium.bus()
    publisher.subscribe(MessageReceived, _ignore, name="recorder")
    # Started but not consuming: the publisher's consumers are cancelled by its stop
    # right after publishing, before a consumer of the other bus exists.
    await publisher.start()
    await publisher.stop()
    publisher = medium.bus()
    publisher.subscribe(MessageReceived, _ignore, name="recorder")
    await publisher.start()
    consumers = list(publisher._consumers)  # a replica that only publishes
    for queue, tag in consumers:
        await queue.cancel(tag)
    await publisher.publish(received("3", "kept"))
    await publisher.stop()

    async def record(event: MessageReceived) -> None:
        got.append(event.message.text)

    consumer = medium.bus()
    consumer.subscribe(MessageReceived, record, name="recorder")
    await started(consumer)
    await until(lambda: got == ["kept"])


async def test_a_message_whose_handler_failed_is_delivered_again(
    medium: Backend, started: Callable[[Any], Awaitable[Any]]
) -> None:
    """Across processes a failure cannot reach the publisher: the message goes back to
    its queue instead, and is handled when the handler works again."""
    replicas_only(medium)
    attempts: list[str] = []

    async def flaky(event: MessageReceived) -> None:
        attempts.append(event.message.text)
        if len(attempts) == 1:
            raise RuntimeError("not this time")

    bus = medium.bus()
    bus.subscribe(MessageReceived, flaky, name="flaky")
    await started(bus)
    await bus.publish(received("4", "again"))
    await until(lambda: len(attempts) == 2)
    await asyncio.sleep(0.3)
    assert attempts == ["again", "again"]
