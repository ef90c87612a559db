"""Streaming on Slack: one message updated (chat.update) as the text grows, throttled,
ending as mrkdwn; in a thread, the draft is in the thread."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest

from minibot.core.conversation import ConversationKey
from minibot.core.messages import OutgoingMessage
from tests.adapters.messaging.slack.test_events import Harness
from tests.app.channels.channel_drivers import SLACK_DM
from tests.fakes.slack_server import FakeSlackServer

pytestmark = pytest.mark.timeout(30)

INTERVAL = 0.3


@pytest.fixture
async def slack() -> AsyncIterator[Harness]:
    fake = FakeSlackServer()
    await fake.start()
    harness = Harness(fake)
    yield harness
    await harness.stop()
    await fake.stop()


async def stream(
    slack: Harness, conversation: ConversationKey, final: str, *, steps: int = 25
) -> None:
    assert slack.channel is not None
    words = final.split(" ")
    for n in range(1, steps + 1):
        partial = " ".join(words[: max(1, len(words) * n // steps)])
        await slack.channel.show_draft(conversation, "turn-s", partial)
        await asyncio.sleep(0.04)  # the pace of a model writing, not a wait for a result
    await slack.channel.deliver(OutgoingMessage(conversation, final, "turn-s"))


async def test_drafts_update_one_message_throttled_and_end_as_mrkdwn(slack: Harness) -> None:
    await slack.start(stream_edits=True, edit_interval_seconds=INTERVAL)
    final = "The **answer** is " + " ".join(f"w{i}" for i in range(60))

    await stream(slack, ConversationKey("slack", SLACK_DM), final)

    fake = slack.fake
    [draft] = [m for m in fake.posted if m.method == "chat.postMessage"]
    updates = [m for m in fake.posted if m.method == "chat.update"]
    assert slack.ledger.chunks["turn-s"] == {0: draft.ts}
    assert not draft.mrkdwn, "a draft is plain text"
    assert all(u.ts == draft.ts for u in updates)
    times = [draft.at] + [u.at for u in updates]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= INTERVAL * 0.9, f"updates closer than the interval: {gaps}"
    assert len(updates) < 25 / 2, "updates were coalesced"
    [shown] = fake.messages_in(SLACK_DM)
    assert shown.text.startswith("The *answer* is") and shown.text.endswith("w59")


async def test_a_draft_in_a_thread_stays_in_the_thread(slack: Harness) -> None:
    await slack.start(
        stream_edits=True, edit_interval_seconds=INTERVAL, allowed_channel_ids=["C0000001"]
    )
    thread = ConversationKey("slack", "C0000001", "1690000001.000001")

    await stream(slack, thread, "one two three four five six", steps=3)

    [shown] = slack.fake.messages_in("C0000001", "1690000001.000001")
    assert shown.visible_text == "one two three four five six"


async def test_drafts_are_ignored_when_streaming_is_off(slack: Harness) -> None:
    await slack.start()
    assert slack.channel is not None
    conversation = ConversationKey("slack", SLACK_DM)
    await slack.channel.show_draft(conversation, "turn-q", "partial")
    await slack.channel.deliver(OutgoingMessage(conversation, "whole", "turn-q"))
    assert [m.visible_text for m in slack.fake.messages_in(SLACK_DM)] == ["whole"]
    assert slack.fake.count("chat.update") == 0
