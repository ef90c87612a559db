"""The Slack channel over the fake Web API: signatures, url_verification, retries, errors."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable

import pytest

from minibot.adapters.messaging.slack import SlackChannel
from minibot.app.event_bus import EventBus
from minibot.core.conversation import ConversationKey
from minibot.core.delivery import TurnRef
from minibot.core.events import ButtonPressed, MessageReceived
from minibot.core.messages import Button, IncomingMessage, OutgoingMessage
from tests.app.channels.channel_drivers import SLACK_DM, SLACK_USER, slack_settings
from tests.fakes.memory import InMemoryDeliveryLedger, InMemoryInbox
from tests.fakes.slack_server import FakeSlackServer, SignedEventSender

pytestmark = pytest.mark.timeout(60)


class Harness:
    def __init__(self, fake: FakeSlackServer) -> None:
        self.fake = fake
        self.inbox = InMemoryInbox()
        self.ledger = InMemoryDeliveryLedger()
        self.received: list[IncomingMessage] = []
        self.answer: Callable[[str], str] = lambda text: "echo: " + text
        self.bus = EventBus()
        self.channel: SlackChannel | None = None
        self.events: SignedEventSender | None = None

    async def start(self, **overrides: object) -> None:
        async def on_message(event: MessageReceived) -> None:
            self.received.append(event.message)
            assert self.channel is not None
            reply = OutgoingMessage.answering(
                TurnRef.of_message(event.message),
                event.message.conversation,
                self.answer(event.message.text),
            )
            await self.channel.deliver(reply)

        self.bus.subscribe(MessageReceived, on_message, name="model")
        await self.bus.start()
        self.channel = SlackChannel(
            slack_settings(self.fake, **overrides), self.bus, self.inbox, self.ledger
        )
        await self.channel.start()
        url = f"http://127.0.0.1:{self.channel.events_port}/slack/events"
        self.events = SignedEventSender(url)

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close_intake()
        await self.bus.stop()
        if self.channel is not None:
            await self.channel.stop()

    def shown(self, channel: str = SLACK_DM) -> list[str]:
        return [m.visible_text for m in self.fake.messages_in(channel)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackServer]:
    server = FakeSlackServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def slack(fake: FakeSlackServer) -> AsyncIterator[Harness]:
    harness = Harness(fake)
    yield harness
    await harness.stop()


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_request_with_a_wrong_signature_is_refused_and_stores_nothing(
    slack: Harness,
) -> None:
    await slack.start()
    assert slack.events is not None
    body = slack.events.message("hi", user=SLACK_USER, channel=SLACK_DM)
    status, _ = await slack.events.event(body, secret="not-the-signing-secret")
    assert status == 401
    assert await slack.inbox.pending("slack") == []
    assert slack.received == []


async def test_a_request_without_a_signature_is_refused(slack: Harness) -> None:
    await slack.start()
    assert slack.events is not None
    body = slack.events.message("hi", user=SLACK_USER, channel=SLACK_DM)
    status, _ = await slack.events.event(body, sign=False)
    assert status == 401
    assert await slack.inbox.pending("slack") == []


async def test_a_stale_signed_request_is_refused(slack: Harness) -> None:
    await slack.start()
    assert slack.events is not None
    body = slack.events.message("hi", user=SLACK_USER, channel=SLACK_DM)
    # Signed correctly, but ten minutes old: a replay.
    status, _ = await slack.events.event(body, timestamp=int(time.time()) - 600)
    assert status == 401
    assert await slack.inbox.pending("slack") == []
    assert slack.received == []


async def test_url_verification_is_answered_with_its_challenge(slack: Harness) -> None:
    await slack.start()
    assert slack.events is not None
    body = {
        "type": "url_verification",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "token": "x",
    }
    status, text = await slack.events.event(body)
    assert status == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in text


async def test_an_event_is_stored_before_its_200(slack: Harness) -> None:
    # The reply is held at Slack, so the turn cannot have finished: the 200 came after
    # the inbox write alone.
    hold = slack.fake.hold("chat.postMessage")
    await slack.start()
    assert slack.events is not None
    body = slack.events.message("hi", user=SLACK_USER, channel=SLACK_DM)
    status, _ = await slack.events.event(body)
    assert status == 200
    [item] = await slack.inbox.pending("slack")
    assert json.loads(item.payload)["event_id"] == body["event_id"]
    hold.released.set()
    await until(lambda: slack.shown() == ["echo: hi"])


async def test_a_retried_event_is_answered_once(slack: Harness) -> None:
    await slack.start()
    assert slack.events is not None
    body = slack.events.message("hi", user=SLACK_USER, channel=SLACK_DM)
    for retry in (None, 1, 2):
        status, _ = await slack.events.event(body, retry_num=retry)
        assert status == 200
    await until(lambda: len(slack.shown()) >= 1)
    after = slack.events.message("after", user=SLACK_USER, channel=SLACK_DM)
    await slack.events.event(after)
    await until(lambda: len(slack.shown()) == 2)
    assert slack.shown() == ["echo: hi", "echo: after"]


async def test_a_stranger_is_told_their_slack_user_id(slack: Harness) -> None:
    await slack.start()
    assert slack.events is not None
    body = slack.events.message("hi", user="U_STRANGER", channel="D_STRANGER")
    status, _ = await slack.events.event(body)
    assert status == 200
    await until(lambda: len(slack.shown("D_STRANGER")) == 1)
    assert "Slack user id U_STRANGER" in slack.shown("D_STRANGER")[0]
    assert slack.received == []
    assert await slack.inbox.pending("slack") == []


async def test_a_rate_limited_reply_waits_out_retry_after(slack: Harness) -> None:
    slack.fake.fail("chat.postMessage", "ratelimited", status=429, retry_after=1)
    await slack.start()
    assert slack.events is not None
    started = time.monotonic()
    await slack.events.event(slack.events.message("hi", user=SLACK_USER, channel=SLACK_DM))
    await until(lambda: slack.shown() == ["echo: hi"])
    assert time.monotonic() - started >= 0.9, "the reply did not wait for Retry-After"
    assert slack.fake.count("chat.postMessage") == 2


async def test_a_server_error_is_retried_until_the_reply_goes_out(slack: Harness) -> None:
    slack.fake.fail("chat.postMessage", "internal_error", status=500)
    await slack.start()
    assert slack.events is not None
    await slack.events.event(slack.events.message("hi", user=SLACK_USER, channel=SLACK_DM))
    await until(lambda: slack.shown() == ["echo: hi"])


async def test_a_reply_to_a_channel_it_cannot_reach_is_given_up(slack: Harness) -> None:
    slack.fake.fail("chat.postMessage", "channel_not_found", times=10)
    await slack.start(max_send_attempts=2)
    assert slack.events is not None
    await slack.events.event(slack.events.message("hi", user=SLACK_USER, channel=SLACK_DM))
    await until(lambda: len(slack.ledger.failures) == 1)
    # The refusal is recorded first, then the inbox item closed: wait for both.
    for _ in range(200):
        if await slack.inbox.pending("slack") == []:
            break
        await asyncio.sleep(0.05)
    assert await slack.inbox.pending("slack") == []


async def test_markdown_goes_out_as_mrkdwn(slack: Harness) -> None:
    slack.answer = lambda _: "**bold** and _it_ and `x<y` and [site](https://example.com)"
    await slack.start()
    assert slack.events is not None
    await slack.events.event(slack.events.message("hi", user=SLACK_USER, channel=SLACK_DM))
    await until(lambda: len(slack.fake.posted) == 1)
    [posted] = slack.fake.posted
    assert posted.text == "*bold* and _it_ and `x&lt;y` and <https://example.com|site>"
    assert posted.mrkdwn


async def test_a_mention_in_a_channel_is_answered_and_other_talk_is_not(slack: Harness) -> None:
    await slack.start(allowed_channel_ids=["C0000001"])
    assert slack.events is not None
    chatter = slack.events.message("lunch?", user="U1", channel="C0000001", channel_type="channel")
    mention = slack.events.message(
        "<@UBOT0001> what time is it?", user="U1", channel="C0000001", channel_type="channel"
    )
    await slack.events.event(chatter)
    await slack.events.event(mention)
    await until(lambda: len(slack.shown("C0000001")) == 1)
    assert slack.shown("C0000001") == ["echo: what time is it?"]
    assert [m.text for m in slack.received] == ["what time is it?"]


async def test_a_button_press_is_stored_and_published_once(slack: Harness) -> None:
    presses: list[ButtonPressed] = []

    async def on_press(event: ButtonPressed) -> None:
        presses.append(event)

    slack.bus.subscribe(ButtonPressed, on_press, name="buttons")
    await slack.start()
    assert slack.events is not None
    payload = slack.events.press(
        "job:done:j1", user=SLACK_USER, channel=SLACK_DM, message_ts="1700000001.000100"
    )
    for _ in range(2):
        status, _ = await slack.events.interaction(payload)
        assert status == 200
    # A message after both: once it is answered, both presses were through the intake.
    await slack.events.event(slack.events.message("after", user=SLACK_USER, channel=SLACK_DM))
    await until(lambda: slack.shown() == ["echo: after"] and len(presses) >= 1)
    [press] = presses
    assert press.action == "job:done:j1"
    assert press.sender.user_id == SLACK_USER
    assert press.inbox_id is not None


async def test_buttons_go_out_as_a_block_kit_actions_block(slack: Harness) -> None:
    await slack.start()
    assert slack.channel is not None
    reply = OutgoingMessage(
        ConversationKey("slack", SLACK_DM),
        "Reminder: water the plants",
        turn_id="slack:D#reminder-1",
        buttons=(Button("Snooze", "job:snooze:j1"), Button("Done", "job:done:j1")),
    )
    await slack.channel.deliver(reply)
    [posted] = slack.fake.posted
    assert posted.button_actions == ["job:snooze:j1", "job:done:j1"]
    assert posted.visible_text == "Reminder: water the plants"


async def test_a_thread_is_a_conversation_apart_from_the_dm(slack: Harness) -> None:
    await slack.start(allowed_channel_ids=["C0000001"])
    assert slack.events is not None
    events = slack.events
    await events.event(events.message("in the dm", user=SLACK_USER, channel=SLACK_DM))
    await until(lambda: slack.shown() == ["echo: in the dm"])
    opener = events.message(
        "<@UBOT0001> start here", user=SLACK_USER, channel="C0000001", channel_type="channel"
    )
    thread = opener["event"]["ts"]
    await events.event(opener)
    await until(lambda: len(slack.fake.messages_in("C0000001", thread)) == 1)
    # A reply in that thread needs no new mention; talk outside it is not answered.
    await events.event(
        events.message(
            "and more",
            user=SLACK_USER,
            channel="C0000001",
            channel_type="channel",
            thread_ts=thread,
        )
    )
    await events.event(
        events.message("lunch?", user=SLACK_USER, channel="C0000001", channel_type="channel")
    )
    await until(lambda: len(slack.fake.messages_in("C0000001", thread)) == 2)
    await events.event(events.message("dm again", user=SLACK_USER, channel=SLACK_DM))
    await until(lambda: len(slack.shown()) == 2)

    in_thread = [m.visible_text for m in slack.fake.messages_in("C0000001", thread)]
    assert in_thread == ["echo: start here", "echo: and more"]
    assert [m.thread_ts for m in slack.fake.messages_in(SLACK_DM)] == [None, None]
    assert len(slack.fake.messages_in("C0000001")) == 2, "the chatter got no answer"
    by_text = {m.text: m.conversation for m in slack.received}
    assert by_text["in the dm"] == by_text["dm again"] == ConversationKey("slack", SLACK_DM)
    assert (
        by_text["start here"] == by_text["and more"] == ConversationKey("slack", "C0000001", thread)
    )


async def test_a_stored_thread_reply_is_answered_in_its_thread_after_a_restart(
    slack: Harness,
) -> None:
    await slack.start(allowed_channel_ids=["C0000001"])
    assert slack.events is not None
    events = slack.events
    opener = events.message(
        "<@UBOT0001> start", user=SLACK_USER, channel="C0000001", channel_type="channel"
    )
    thread = opener["event"]["ts"]
    await events.event(opener)
    await until(lambda: len(slack.fake.messages_in("C0000001", thread)) == 1)
    hold = slack.fake.hold("chat.postMessage")
    reply = events.message(
        "more", user=SLACK_USER, channel="C0000001", channel_type="channel", thread_ts=thread
    )
    assert (await events.event(reply))[0] == 200
    assert len(await slack.inbox.pending("slack")) == 1
    await until(lambda: hold.waiting == 1)
    await slack.stop()  # the reply is stuck at Slack: its item stays open
    slack.fake.release("chat.postMessage")
    assert len(await slack.inbox.pending("slack")) == 1

    # A new process: only the thread reply is left, and nothing remembers the thread.
    again = Harness(slack.fake)
    again.inbox, again.ledger = slack.inbox, slack.ledger
    try:
        await again.start(allowed_channel_ids=["C0000001"])
        await until(lambda: again.received != [])
    finally:
        await again.stop()
    assert [m.text for m in again.received] == ["more"]
    assert again.received[0].conversation == ConversationKey("slack", "C0000001", thread)


async def test_a_press_on_a_message_in_a_thread_belongs_to_that_thread(slack: Harness) -> None:
    presses: list[ButtonPressed] = []

    async def on_press(event: ButtonPressed) -> None:
        presses.append(event)

    slack.bus.subscribe(ButtonPressed, on_press, name="buttons")
    await slack.start(allowed_channel_ids=["C0000001"])
    assert slack.events is not None
    payload = slack.events.press(
        "job:done:j1",
        user=SLACK_USER,
        channel="C0000001",
        message_ts="1700000009.000100",
        thread_ts="1690000001.000001",
    )
    assert (await slack.events.interaction(payload))[0] == 200
    await until(lambda: len(presses) == 1)
    assert presses[0].conversation == ConversationKey("slack", "C0000001", "1690000001.000001")


def answer_presses(harness: Harness, presses: list[ButtonPressed]) -> None:
    async def on_press(event: ButtonPressed) -> None:
        presses.append(event)
        assert harness.channel is not None
        turn = TurnRef.of_inbox(event.conversation, event.inbox_id)
        reply = OutgoingMessage.answering(turn, event.conversation, f"pressed {event.action}")
        await harness.channel.deliver(reply)

    harness.bus.subscribe(ButtonPressed, on_press, name="buttons")


async def test_a_press_caught_by_a_crash_is_handled_after_the_restart_once(
    slack: Harness,
) -> None:
    first: list[ButtonPressed] = []
    answer_presses(slack, first)
    await slack.start()
    assert slack.events is not None
    hold = slack.fake.hold("chat.postMessage")
    payload = slack.events.press(
        "job:done:j1", user=SLACK_USER, channel=SLACK_DM, message_ts="1700000001.000100"
    )
    assert (await slack.events.interaction(payload))[0] == 200
    await until(lambda: hold.waiting == 1)
    await slack.stop()  # the answer never got out: the press's item stays open
    slack.fake.release("chat.postMessage", drop=True)
    assert len(await slack.inbox.pending("slack")) == 1

    again = Harness(slack.fake)
    again.inbox, again.ledger = slack.inbox, slack.ledger
    second: list[ButtonPressed] = []
    answer_presses(again, second)
    try:
        await again.start()
        assert again.events is not None
        await until(lambda: slack.shown() == ["pressed job:done:j1"])
        # Slack delivering the same press again changes nothing.
        assert (await again.events.interaction(payload))[0] == 200
        await again.events.event(again.events.message("after", user=SLACK_USER, channel=SLACK_DM))
        await until(lambda: len(slack.shown()) == 2)
    finally:
        await again.stop()
    assert slack.shown() == ["pressed job:done:j1", "echo: after"]
    assert len(second) == 1
    assert await slack.inbox.pending("slack") == []


async def test_a_press_in_a_direct_message_stays_in_its_one_conversation(
    slack: Harness,
) -> None:
    presses: list[ButtonPressed] = []

    async def on_press(event: ButtonPressed) -> None:
        presses.append(event)

    slack.bus.subscribe(ButtonPressed, on_press, name="buttons")
    await slack.start()
    assert slack.events is not None
    # A message with replies under it carries thread_ts (its own ts) in the payload.
    payload = slack.events.press(
        "job:done:j1",
        user=SLACK_USER,
        channel=SLACK_DM,
        message_ts="1700000009.000100",
        thread_ts="1700000009.000100",
    )
    assert (await slack.events.interaction(payload))[0] == 200
    await until(lambda: len(presses) == 1)
    assert presses[0].conversation == ConversationKey("slack", SLACK_DM)
