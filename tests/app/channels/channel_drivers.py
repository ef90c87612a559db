"""One driver per channel for the channel contract suite: the same moves on each platform."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any, Protocol

from minibot.adapters.config.schema import SlackSettings
from minibot.adapters.messaging.console.console_channel import ConsoleChannel
from minibot.adapters.messaging.console.console_sender import PROMPT_REPLY
from minibot.adapters.messaging.slack import SlackChannel
from minibot.adapters.messaging.telegram import TelegramChannel
from minibot.adapters.messaging.web.web_channel import WebChannel
from minibot.adapters.messaging.web.web_sender import WebSender
from minibot.app.event_bus import EventBus
from minibot.core.delivery import TurnRef
from minibot.core.events import MessageReceived
from minibot.core.messages import IncomingMessage, OutgoingMessage
from minibot.core.ports.channel import Channel
from tests.adapters.messaging.telegram.conftest import CHAT, USER, settings_for
from tests.fakes.memory import InMemoryDeliveryLedger, InMemoryInbox
from tests.fakes.slack_server import (
    APP_TOKEN,
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlackServer,
    SignedEventSender,
)
from tests.fakes.telegram_server import FakeTelegramServer

Answer = Callable[[str], str]


class Crash(Exception):
    """The process dying at this point (a power cut): nothing after it runs."""


class CrashingLedger(InMemoryDeliveryLedger):
    """A ledger that, when armed, records one chunk and then "crashes": the next chunk
    of that reply is never sent, and its inbox item stays open."""

    def __init__(self) -> None:
        super().__init__()
        self.crash_after_records: int | None = None
        self.crashed = asyncio.Event()

    async def record(self, turn_id: str, chunk: int, message_id: str) -> None:
        await super().record(turn_id, chunk, message_id)
        if self.crash_after_records is not None:
            self.crash_after_records -= 1
            if self.crash_after_records <= 0:
                self.crash_after_records = None
                self.crashed.set()
                raise Crash("crashed between two chunks")


class ChannelDriver(Protocol):
    """Scripts one channel: a person writing, what the channel showed them, a restart."""

    name: str
    max_chunk_chars: int
    # What reached the bus (so the LLM): the messages the channel let through.
    received: list[IncomingMessage]
    ledger: CrashingLedger

    async def start(self, *, answer: Answer, sender_allowed: bool = True) -> None: ...

    async def send(self, text: str, *, platform_id: str | None = None) -> str:
        """Writes `text` as the person; returns the message's platform id."""
        ...

    async def send_malformed(self) -> None: ...

    def shown(self) -> list[str]:
        """Every message the channel showed the person, in order."""
        ...

    async def restart(self) -> None:
        """Stops the channel as a crash leaves it, and starts a new one on its stores."""
        ...

    async def stop(self) -> None: ...


class _Base:
    """The bus and the stores a channel runs on, and the answering 'model'."""

    def __init__(self) -> None:
        self.inbox = InMemoryInbox()
        self.ledger = CrashingLedger()
        self.received: list[IncomingMessage] = []
        self.answer: Answer = str
        self.channel: Channel | None = None
        self.bus: EventBus | None = None

    async def _start_bus(self) -> EventBus:
        bus = EventBus()

        async def on_message(event: MessageReceived) -> None:
            message = event.message
            self.received.append(message)
            assert self.channel is not None
            reply = OutgoingMessage.answering(
                TurnRef.of_message(message), message.conversation, self.answer(message.text)
            )
            await self.channel.deliver(reply)

        bus.subscribe(MessageReceived, on_message, name="model")
        await bus.start()
        self.bus = bus
        return bus

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close_intake()
        if self.bus is not None:
            await self.bus.stop()
        if self.channel is not None:
            await self.channel.stop()
        self.channel, self.bus = None, None


class TelegramDriver(_Base):
    """The Telegram channel over the loopback fake Bot API, by long polling."""

    name = "telegram"
    max_chunk_chars = 4096

    def __init__(self, fake: FakeTelegramServer) -> None:
        super().__init__()
        self.fake = fake
        self._allowed: list[int] = [USER]
        self._sent: dict[str, dict[str, Any]] = {}

    async def start(self, *, answer: Answer, sender_allowed: bool = True) -> None:
        self.answer = answer
        self._allowed = [USER] if sender_allowed else [USER + 1]
        await self._open()

    async def _open(self) -> None:
        bus = await self._start_bus()
        settings = settings_for(self.fake, allowed_user_ids=self._allowed)
        self.channel = TelegramChannel(settings, bus, self.inbox, self.ledger)
        await self.channel.start()

    async def send(self, text: str, *, platform_id: str | None = None) -> str:
        if platform_id is not None:
            # The platform delivering the same update again.
            self.fake.enqueue(self._sent[platform_id], assign_id=False)
            return platform_id
        update = self.fake.enqueue_text(CHAT, USER, text)
        self._sent[str(update["update_id"])] = update
        return str(update["update_id"])

    async def send_malformed(self) -> None:
        self.fake.enqueue({"message": {"chat": "not a chat", "text": 7}})

    def shown(self) -> list[str]:
        return [message.visible_text for message in self.fake.messages_to(CHAT)]

    async def restart(self) -> None:
        await self.stop()
        await self._open()


class ConsoleDriver(_Base):
    """The console channel, its output in memory; lines are given to it as read."""

    name = "console"
    # The console has no limit of its own; one is set so a long answer splits.
    max_chunk_chars = 1000

    def __init__(self) -> None:
        super().__init__()
        self.out = io.StringIO()
        self._allowed: list[str] = ["local"]
        self._lines = 0

    async def start(self, *, answer: Answer, sender_allowed: bool = True) -> None:
        self.answer = answer
        self._allowed = ["local"] if sender_allowed else ["someone-else"]
        await self._open()

    async def _open(self) -> None:
        bus = await self._start_bus()
        self.console = ConsoleChannel(
            bus,
            self.inbox,
            self.ledger,
            user_id="local",
            chat_id="console",
            answer_timeout_seconds=30.0,
            stdin=io.StringIO(""),
            stdout=self.out,
            allowed_user_ids=self._allowed,
            max_chunk_chars=self.max_chunk_chars,
        )
        self.channel = self.console
        await self.console.start()

    async def send(self, text: str, *, platform_id: str | None = None) -> str:
        self._lines += 1
        line_id = platform_id or f"line-{self._lines}"
        await self.console.receive(text + "\n", line_id=line_id)
        return line_id

    async def send_malformed(self) -> None:
        await self.console.receive(b"caf\xe9 au lait\n")

    def shown(self) -> list[str]:
        shown: list[str] = []
        indent = " " * len(PROMPT_REPLY)
        for line in self.out.getvalue().splitlines():
            if line.startswith(PROMPT_REPLY):
                shown.append(line.removeprefix(PROMPT_REPLY))
            elif shown and line.startswith(indent):
                shown[-1] += "\n" + line.removeprefix(indent)
        return shown

    async def restart(self) -> None:
        await self.stop()
        await self._open()


SLACK_USER = "U0000042"
SLACK_DM = "D0000042"


def slack_settings(fake: FakeSlackServer, **overrides: Any) -> SlackSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
        "api_base": fake.base_url,
        "listen_port": 0,
        "allowed_user_ids": [SLACK_USER],
        "max_send_attempts": 3,
    }
    values.update(overrides)
    return SlackSettings(**values)


class SlackDriver(_Base):
    """The Slack channel over the loopback fake Web API, its events posted signed."""

    name = "slack"
    max_chunk_chars = 4000

    def __init__(self, fake: FakeSlackServer) -> None:
        super().__init__()
        self.fake = fake
        self._allowed = [SLACK_USER]
        self._sent: dict[str, dict[str, Any]] = {}
        self.events: SignedEventSender | None = None

    async def start(self, *, answer: Answer, sender_allowed: bool = True) -> None:
        self.answer = answer
        self._allowed = [SLACK_USER] if sender_allowed else ["U_SOMEONE_ELSE"]
        await self._open()

    async def _open(self) -> None:
        bus = await self._start_bus()
        settings = slack_settings(self.fake, allowed_user_ids=self._allowed)
        self.slack = SlackChannel(settings, bus, self.inbox, self.ledger)
        self.channel = self.slack
        await self.slack.start()
        url = f"http://127.0.0.1:{self.slack.events_port}/slack/events"
        self.events = SignedEventSender(url)

    async def send(self, text: str, *, platform_id: str | None = None) -> str:
        assert self.events is not None
        if platform_id is not None:
            # Slack retrying the same event (same event_id), as it does without a 200.
            status, _ = await self.events.event(self._sent[platform_id], retry_num=1)
            assert status == 200
            return platform_id
        body = self.events.message(text, user=SLACK_USER, channel=SLACK_DM)
        self._sent[body["event_id"]] = body
        status, _ = await self.events.event(body)
        assert status == 200
        return str(body["event_id"])

    async def send_malformed(self) -> None:
        assert self.events is not None
        body = {"type": "event_callback", "event": {"type": "message", "text": 7}}
        status, _ = await self.events.event(body)
        assert status == 200

    def shown(self) -> list[str]:
        return [message.visible_text for message in self.fake.messages_in(SLACK_DM)]

    async def restart(self) -> None:
        await self.stop()
        await self._open()


class SlackSocketDriver(SlackDriver):
    """The Slack channel in Socket Mode: the same events, as envelopes on the fake's
    WebSocket, each awaited until acknowledged (so stored)."""

    name = "slack"  # the channel it drives (what its log lines name)

    async def _open(self) -> None:
        bus = await self._start_bus()
        settings = slack_settings(
            self.fake, allowed_user_ids=self._allowed, mode="socket", app_token=APP_TOKEN
        )
        self.slack = SlackChannel(settings, bus, self.inbox, self.ledger)
        self.channel = self.slack
        await self.slack.start()
        # Bodies only: Socket Mode has no request to sign.
        self.events = self.events or SignedEventSender("unused")

    async def send(self, text: str, *, platform_id: str | None = None) -> str:
        assert self.events is not None
        if platform_id is not None:
            # Slack sending the same event again (same event_id, a new envelope).
            await self.fake.socket.wait_acked(await self.fake.socket.event(self._sent[platform_id]))
            return platform_id
        body = self.events.message(text, user=SLACK_USER, channel=SLACK_DM)
        self._sent[body["event_id"]] = body
        await self.fake.socket.wait_acked(await self.fake.socket.event(body))
        return str(body["event_id"])

    async def send_malformed(self) -> None:
        body = {"type": "event_callback", "event": {"type": "message", "text": 7}}
        await self.fake.socket.wait_acked(await self.fake.socket.event(body))


class WebDriver(_Base):
    """The web channel (the dashboard's chat), messages given to it as the page posts."""

    name = "web"
    max_chunk_chars = 4096

    def __init__(self) -> None:
        super().__init__()
        self._allowed = ["owner"]
        self._count = 0
        # The page: what it showed stays shown across a restart of the channel.
        self.page = WebSender()

    async def start(self, *, answer: Answer, sender_allowed: bool = True) -> None:
        self.answer = answer
        self._allowed = ["owner"] if sender_allowed else ["someone-else"]
        await self._open()

    async def _open(self) -> None:
        bus = await self._start_bus()
        self.web = WebChannel(
            bus,
            self.inbox,
            self.ledger,
            user_id="owner",
            allowed_user_ids=self._allowed,
            sender=self.page,
        )
        self.channel = self.web
        await self.web.start()

    async def send(self, text: str, *, platform_id: str | None = None) -> str:
        self._count += 1
        message_id = platform_id or f"page-{self._count}"
        await self.web.receive(message_id, text)
        return message_id

    async def send_malformed(self) -> None:
        await self.web.receive("page-bad", b"caf\xe9 au lait")

    def shown(self) -> list[str]:
        return [shown.text for shown in self.web.transcript()]

    async def restart(self) -> None:
        await self.stop()
        await self._open()
