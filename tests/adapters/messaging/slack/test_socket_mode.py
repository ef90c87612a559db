"""Socket Mode over the fake: envelopes acknowledged only once stored, redeliveries
answered once, presses, Slack's reconnect request, a refused app-level token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from minibot.core.errors import ChannelError, StoreUnavailable
from minibot.core.events import ButtonPressed
from minibot.core.health import HealthState
from minibot.core.ports.inbox import InboxEntry
from tests.adapters.messaging.slack.test_events import Harness, until
from tests.app.channels.channel_drivers import SLACK_DM, SLACK_USER
from tests.fakes.memory import InMemoryInbox
from tests.fakes.slack_server import APP_TOKEN, FakeSlackServer, SignedEventSender

pytestmark = pytest.mark.timeout(60)


class HeldInbox(InMemoryInbox):
    """An inbox whose writes wait until `open` is set (a slow disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()
        self.open.set()
        self.fail_next = 0

    async def add_many(self, channel: str, entries: Sequence[InboxEntry]) -> list[int | None]:
        await self.open.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise StoreUnavailable("the database is down")
        return await super().add_many(channel, entries)


@pytest.fixture
async def slack() -> AsyncIterator[Harness]:
    fake = FakeSlackServer()
    await fake.start()
    harness = Harness(fake)
    harness.inbox = HeldInbox()
    yield harness
    await harness.stop()
    await fake.stop()


async def start_socket(slack: Harness, **overrides: object) -> None:
    await slack.start(mode="socket", app_token=APP_TOKEN, **overrides)
    await slack.fake.socket.wait_connected()


# Builds bodies only (Socket Mode has no request to sign); one, so event ids never repeat.
BODIES = SignedEventSender("unused")


def message(text: str) -> dict[str, object]:
    return BODIES.message(text, user=SLACK_USER, channel=SLACK_DM)


async def test_an_event_is_acknowledged_only_once_the_inbox_holds_it(slack: Harness) -> None:
    await start_socket(slack)
    socket, inbox = slack.fake.socket, slack.inbox
    assert isinstance(inbox, HeldInbox)
    inbox.open.clear()
    envelope = await socket.event(message("hi"))
    await asyncio.sleep(0.3)  # room for a premature acknowledgement to arrive
    assert envelope not in socket.acked, "acknowledged before it was stored"
    inbox.open.set()
    await socket.wait_acked(envelope)
    await until(lambda: slack.shown() == ["echo: hi"])
    assert slack.channel is not None
    assert slack.channel.events_port is None, "no HTTP listener in socket mode"


async def test_an_envelope_that_could_not_be_stored_is_not_acknowledged(slack: Harness) -> None:
    await start_socket(slack)
    socket, inbox = slack.fake.socket, slack.inbox
    assert isinstance(inbox, HeldInbox)
    inbox.fail_next = 1
    envelope = await socket.event(message("hi"))
    await until(lambda: inbox.fail_next == 0)
    await asyncio.sleep(0.3)
    assert envelope in socket.unacked
    # Slack sends it again; stored this time, answered once.
    assert await socket.redeliver() == 1
    await socket.wait_acked(envelope)
    # The store-down notice went out while it was down; then the answer.
    await until(lambda: slack.shown()[-1:] == ["echo: hi"])
    assert slack.shown().count("echo: hi") == 1


async def test_a_redelivered_event_is_answered_once(slack: Harness) -> None:
    await start_socket(slack)
    socket = slack.fake.socket
    body = message("hi")
    first = await socket.event(body)
    await socket.wait_acked(first)
    again = await socket.event(body)  # the same event_id in a new envelope
    await socket.wait_acked(again)
    after = await socket.event(message("after"))
    await socket.wait_acked(after)
    await until(lambda: len(slack.shown()) == 2)
    assert slack.shown() == ["echo: hi", "echo: after"]


async def test_a_press_over_the_socket_is_published_once(slack: Harness) -> None:
    presses: list[ButtonPressed] = []

    async def on_press(event: ButtonPressed) -> None:
        presses.append(event)

    slack.bus.subscribe(ButtonPressed, on_press, name="buttons")
    await start_socket(slack)
    socket = slack.fake.socket
    payload = BODIES.press(
        "job:done:j1", user=SLACK_USER, channel=SLACK_DM, message_ts="1700000001.000100"
    )
    for _ in range(2):
        await socket.wait_acked(await socket.interaction(payload))
    await socket.wait_acked(await socket.event(message("after")))
    await until(lambda: slack.shown() == ["echo: after"] and len(presses) >= 1)
    [press] = presses
    assert press.action == "job:done:j1" and press.inbox_id is not None


async def test_a_disconnect_request_is_followed_by_a_new_connection(slack: Harness) -> None:
    await start_socket(slack)
    socket = slack.fake.socket
    await socket.disconnect()
    await socket.wait_connected(count=2)
    assert slack.fake.count("apps.connections.open") == 2, "a fresh URL for the new socket"
    await socket.wait_acked(await socket.event(message("still there?")))
    await until(lambda: slack.shown() == ["echo: still there?"])


async def test_a_refused_app_token_fails_the_start_naming_the_key(slack: Harness) -> None:
    with pytest.raises(ChannelError, match=r"channels\.slack\.app_token") as caught:
        await slack.start(mode="socket", app_token="xapp-wrong")
    assert "xapp-wrong" not in str(caught.value)
    assert slack.fake.socket.connections == []


async def test_health_is_degraded_while_the_socket_is_down(slack: Harness) -> None:
    await start_socket(slack)
    channel, fake = slack.channel, slack.fake
    assert channel is not None
    assert channel.health.state is HealthState.READY
    hold = fake.hold("apps.connections.open")  # no new URL for a while
    await fake.socket.close_all()
    await until(lambda: channel.health.state is HealthState.DEGRADED)
    assert "Socket Mode" in (channel.health.reason or "")
    await until(lambda: hold.waiting >= 1)
    fake.release("apps.connections.open")
    await fake.socket.wait_connected(count=2)
    await until(lambda: channel.health.state is HealthState.READY)
    await fake.socket.wait_acked(await fake.socket.event(message("back?")))
    await until(lambda: slack.shown() == ["echo: back?"])
