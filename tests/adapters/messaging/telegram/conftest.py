"""A Telegram channel wired to a real bus, in-memory storage and the fake Bot API."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from minibot.adapters.config.schema import TelegramSettings
from minibot.adapters.messaging.telegram import TelegramChannel
from minibot.app.event_bus import EventBus
from minibot.core.events import ButtonPressed, MessageReceived
from minibot.core.messages import IncomingMessage, OutgoingMessage
from tests.fakes.memory import InMemoryDeliveryLedger, InMemoryInbox
from tests.fakes.telegram_server import DEFAULT_TOKEN, FakeTelegramServer

USER = 42
CHAT = 42
COMMANDS = (("start", "Say hello"), ("help", "What I can do"))

Answer = Callable[[str], str]


def echo(text: str) -> str:
    return "echo: " + text


def settings_for(fake: FakeTelegramServer, **overrides: Any) -> TelegramSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "bot_token": DEFAULT_TOKEN,
        "api_base": fake.base_url,
        "allowed_user_ids": [USER],
        "polling_timeout_seconds": 5,
        "max_send_attempts": 4,
    }
    values.update(overrides)
    return TelegramSettings(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Harness:
    """The channel and what it published; the bus answers each message via `answer`."""

    channel: TelegramChannel
    bus: EventBus
    inbox: InMemoryInbox
    ledger: InMemoryDeliveryLedger
    received: list[IncomingMessage] = field(default_factory=list)
    buttons: list[ButtonPressed] = field(default_factory=list)


Start = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegramServer]:
    server = FakeTelegramServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def start_channel(fake: FakeTelegramServer) -> AsyncIterator[Start]:
    """Starts a channel (settings overridable); everything started is stopped after."""
    started: list[Harness] = []

    async def start(
        *,
        answer: Answer | None = echo,
        inbox: InMemoryInbox | None = None,
        ledger: InMemoryDeliveryLedger | None = None,
        **overrides: Any,
    ) -> Harness:
        bus = EventBus()
        inbox = inbox if inbox is not None else InMemoryInbox()
        ledger = ledger if ledger is not None else InMemoryDeliveryLedger()
        channel = TelegramChannel(settings_for(fake, **overrides), bus, inbox, ledger, COMMANDS)
        harness = Harness(channel, bus, inbox, ledger)

        async def on_message(event: MessageReceived) -> None:
            message = event.message
            harness.received.append(message)
            if answer is not None:
                await harness.channel.deliver(
                    OutgoingMessage(
                        message.conversation,
                        answer(message.text),
                        turn_id=f"turn-{message.inbox_id}",
                        source_inbox_id=message.inbox_id,
                    )
                )

        async def on_button(event: ButtonPressed) -> None:
            harness.buttons.append(event)

        bus.subscribe(MessageReceived, on_message, name="echo")
        bus.subscribe(ButtonPressed, on_button, name="buttons")
        await bus.start()
        started.append(harness)
        await harness.channel.start()
        return harness

    yield start
    for harness in reversed(started):
        await harness.channel.close_intake()
        await harness.bus.stop()
        await harness.channel.stop()


async def stored_by_an_earlier_run(update: dict[str, Any]) -> tuple[InMemoryInbox, int]:
    """An inbox holding `update` as an earlier run left it (stored, never handled)."""
    inbox = InMemoryInbox()
    item_id = await inbox.add(
        "telegram", str(update["update_id"]), f"telegram:{CHAT}", json.dumps(update)
    )
    assert item_id is not None
    return inbox, item_id


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait until `predicate` holds, checking often, failing after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
