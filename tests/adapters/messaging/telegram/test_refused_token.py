"""A refused bot token (401) on send: loud, degraded, retried, and no reply lost."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time

import pytest

from minibot.core.conversation import ConversationKey
from minibot.core.errors import ChannelError
from minibot.core.health import HealthState
from minibot.core.messages import OutgoingMessage
from tests.adapters.messaging.telegram.conftest import CHAT, Harness, Start, until
from tests.fakes.telegram_server import DEFAULT_TOKEN, FakeTelegramServer

pytestmark = pytest.mark.timeout(40)

CONVERSATION = ConversationKey("telegram", str(CHAT))


async def stored_reply(harness: Harness, text: str) -> OutgoingMessage:
    inbox_id = await harness.inbox.add("telegram", f"u-{text}", f"telegram:{CHAT}", "{}")
    assert inbox_id is not None
    return OutgoingMessage(CONVERSATION, text, f"turn-{inbox_id}", source_inbox_id=inbox_id)


def revoke(fake: FakeTelegramServer) -> None:
    fake.fail_for("sendMessage", 401, "Unauthorized")


async def test_a_refused_token_keeps_the_reply_until_telegram_takes_it_again(
    fake: FakeTelegramServer, start_channel: Start, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await start_channel(answer=None)
    revoke(fake)
    reply = await stored_reply(harness, "still here")
    delivering = asyncio.create_task(harness.channel.deliver(reply))

    await until(lambda: harness.channel.health.state is HealthState.DEGRADED)
    reason = harness.channel.health.reason or ""
    assert "401" in reason and "token" in reason
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("token" in r.getMessage() for r in errors), "a refused token is an ERROR"
    assert DEFAULT_TOKEN not in caplog.text and DEFAULT_TOKEN.split(":")[1] not in caplog.text
    await until(lambda: len(fake.calls_of("sendMessage")) >= 2)
    assert not delivering.done(), "the reply waits; it is not given up"
    assert reply.source_inbox_id not in harness.inbox.done

    fake.heal("sendMessage")
    await asyncio.wait_for(delivering, 15)

    assert [m.visible_text for m in fake.messages_to(CHAT)] == ["still here"]
    assert reply.source_inbox_id in harness.inbox.done
    assert harness.channel.health.state is HealthState.READY
    assert await harness.ledger.failure(reply.turn_id) is None


async def test_a_refused_token_is_retried_with_back_off_one_call_at_a_time(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(answer=None)
    revoke(fake)
    chats = (401, 402, 403, 404)
    tasks = []
    for chat in chats:
        inbox_id = await harness.inbox.add("telegram", f"u{chat}", f"telegram:{chat}", "{}")
        reply = OutgoingMessage(
            ConversationKey("telegram", str(chat)), "hi", f"t{chat}", source_inbox_id=inbox_id
        )
        tasks.append(asyncio.create_task(harness.channel.deliver(reply)))
    await until(lambda: harness.channel.health.state is HealthState.DEGRADED)
    first_refusal = time.monotonic()
    await until(lambda: len(fake.calls_of("sendMessage")) >= len(chats) + 2, timeout=20)

    probes = [c.at for c in fake.calls_of("sendMessage") if c.at > first_refusal + 0.1]
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert gaps and all(gap >= 0.9 for gap in gaps), "one probe per back-off, not one per chat"
    assert gaps[0] >= 1.8, "the back-off grows (1 s, then 2 s)"

    fake.heal("sendMessage")
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    assert all(len(fake.messages_to(chat)) == 1 for chat in chats)
    assert harness.channel.health.state is HealthState.READY


async def test_a_stop_while_the_token_is_refused_is_quick_and_leaves_the_reply(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(answer=None)
    revoke(fake)
    reply = await stored_reply(harness, "for the next run")
    delivering = asyncio.create_task(harness.channel.deliver(reply))
    await until(lambda: harness.channel.health.state is HealthState.DEGRADED)

    started = time.monotonic()
    await harness.channel.close_intake()
    with pytest.raises(ChannelError):
        await asyncio.wait_for(delivering, 2.0)  # the daemon's drain does not wait on it
    await harness.channel.stop()

    assert time.monotonic() - started < 2.0
    assert reply.source_inbox_id not in harness.inbox.done, "the restart delivers it"
    assert await harness.ledger.failure(reply.turn_id) is None
