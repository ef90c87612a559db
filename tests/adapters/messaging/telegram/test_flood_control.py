"""Flood control: a 429 pauses its chat (or the whole bot), and no reply is given up for it."""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import time

import pytest

from minibot.core.conversation import ConversationKey
from minibot.core.errors import ChannelError
from minibot.core.messages import OutgoingMessage
from tests.adapters.messaging.telegram.conftest import CHAT, Harness, Start, until
from tests.fakes.telegram_server import ApiCall, FakeTelegramServer

pytestmark = pytest.mark.timeout(40)


async def reply_in(harness: Harness, chat: int, text: str) -> OutgoingMessage:
    """A reply to a message stored in the inbox, as the dispatcher would publish it."""
    inbox_id = await harness.inbox.add("telegram", f"u-{chat}-{text}", f"telegram:{chat}", "{}")
    assert inbox_id is not None
    conversation = ConversationKey("telegram", str(chat))
    return OutgoingMessage(conversation, text, f"turn-{inbox_id}", source_inbox_id=inbox_id)


def gaps_after_refusals(calls: list[ApiCall], chat: int) -> list[float]:
    """For each sendMessage to `chat` answered 429, how long until the next one."""
    mine = [c for c in calls if c.method == "sendMessage" and c.params["chat_id"] == chat]
    return [later.at - call.at for call, later in itertools.pairwise(mine)]


async def test_a_rate_limit_longer_than_the_attempts_delays_replies_but_gives_none_up(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    # Two attempts used to be the most a reply got; this limit outlasts several.
    harness = await start_channel(answer=None, max_send_attempts=2)
    fake.rate_limit_for("sendMessage", seconds=2.5, retry_after=1)
    started = time.monotonic()
    replies = [await reply_in(harness, CHAT, f"reply {n}") for n in range(3)]

    outcomes = await asyncio.gather(
        *(harness.channel.deliver(reply) for reply in replies), return_exceptions=True
    )

    assert outcomes == [None, None, None], "no reply was given up for a rate limit"
    assert [m.visible_text for m in fake.messages_to(CHAT)] == ["reply 0", "reply 1", "reply 2"]
    assert harness.inbox.done == {r.source_inbox_id for r in replies}
    refused = [c for c in fake.calls_of("sendMessage") if c.at - started < 2.5]
    assert len(refused) >= 3, "the limit was hit more often than the attempts allow"
    # Every send after a 429 waited out its retry_after (1 s), the last refused one too.
    assert min(gaps_after_refusals(fake.calls, CHAT)[: len(refused)]) >= 0.95


async def test_a_429_in_many_chats_at_once_pauses_every_chat(
    fake: FakeTelegramServer, start_channel: Start, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await start_channel(answer=None)
    fake.rate_limit("sendMessage", retry_after=1, times=3)
    caplog.set_level(logging.WARNING)
    limited = [
        asyncio.create_task(harness.channel.deliver(await reply_in(harness, chat, "hi")))
        for chat in (201, 202, 203)
    ]
    await until(lambda: "all chats paused" in caplog.text)
    paused_at = time.monotonic()

    # A fourth chat has had no 429 of its own, but the bot as a whole is over its limit.
    await harness.channel.deliver(await reply_in(harness, 204, "me too"))
    await asyncio.gather(*limited)

    [fourth] = fake.messages_to(204)
    assert fourth.at - paused_at >= 0.8, "the chat without a 429 waited too"
    assert all(len(fake.messages_to(chat)) == 1 for chat in (201, 202, 203))


async def test_a_429_in_one_chat_does_not_pause_the_others(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(answer=None)
    fake.rate_limit("sendMessage", retry_after=5)
    slow = asyncio.create_task(harness.channel.deliver(await reply_in(harness, 301, "later")))
    await until(lambda: len(fake.calls_of("sendMessage")) == 1)
    started = time.monotonic()

    await harness.channel.deliver(await reply_in(harness, 302, "now"))

    assert time.monotonic() - started < 3.0, "the other chat went on"
    assert not slow.done(), "the limited chat still waits out its retry_after"
    slow.cancel()
    await asyncio.gather(slow, return_exceptions=True)


async def test_a_stop_during_a_long_rate_limit_leaves_the_reply_for_the_restart(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(answer=None)
    fake.rate_limit_for("sendMessage", seconds=60, retry_after=30)
    reply = await reply_in(harness, CHAT, "after the restart")
    delivering = asyncio.create_task(harness.channel.deliver(reply))
    await until(lambda: len(fake.calls_of("sendMessage")) == 1)

    started = time.monotonic()
    await harness.channel.close_intake()
    await harness.channel.stop()

    assert time.monotonic() - started < 2.0, "the stop did not wait out the rate limit"
    with pytest.raises(ChannelError):
        await delivering
    assert reply.source_inbox_id not in harness.inbox.done, "the restart delivers it"
    assert await harness.ledger.failure(reply.turn_id) is None, "not given up either"


async def test_a_reply_cancelled_while_it_waits_on_a_rate_limit_stops_quietly(
    fake: FakeTelegramServer, start_channel: Start, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await start_channel(answer=None)
    fake.rate_limit_for("sendMessage", seconds=60, retry_after=30)
    reply = await reply_in(harness, CHAT, "cut short")
    delivering = asyncio.create_task(harness.channel.deliver(reply))
    await until(lambda: len(fake.calls_of("sendMessage")) == 1)

    delivering.cancel()  # the daemon's drain ran out of budget and cancelled the lanes
    await asyncio.gather(delivering, return_exceptions=True)
    await harness.channel.stop()
    del delivering
    gc.collect()

    assert "never retrieved" not in caplog.text
    assert reply.source_inbox_id not in harness.inbox.done
