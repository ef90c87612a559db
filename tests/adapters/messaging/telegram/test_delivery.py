"""Delivery: splitting, formatting with a plain fallback, flood control, no duplicates."""

from __future__ import annotations

import asyncio
import logging
import re
import time

import pytest

from minibot.core.conversation import ConversationKey
from minibot.core.errors import DeliveryRefused
from minibot.core.messages import Button, OutgoingMessage
from tests.adapters.messaging.telegram.conftest import (
    CHAT,
    USER,
    Start,
    stored_by_an_earlier_run,
    until,
)
from tests.fakes.memory import InMemoryDeliveryLedger
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.timeout(30)

CONVERSATION = ConversationKey("telegram", str(CHAT))


def long_answer() -> str:
    paragraphs = [
        f"Paragraph {n}: " + " ".join(f"word{n}-{i}" for i in range(120)) for n in range(12)
    ]
    return "\n\n".join(paragraphs)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


async def test_a_long_answer_is_split_on_paragraphs(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    answer = long_answer()
    await start_channel(answer=lambda _: answer)
    fake.enqueue_text(CHAT, USER, "tell me a lot")

    await fake.wait_for_messages(CHAT, 3)
    await until(lambda: "Paragraph 11" in fake.messages_to(CHAT)[-1].visible_text)
    chunks = [m.visible_text for m in fake.messages_to(CHAT)]

    assert all(len(chunk) <= 4096 for chunk in chunks)
    assert squeeze(" ".join(chunks)) == squeeze(answer)
    assert all(chunk.startswith("Paragraph") for chunk in chunks), "cut on paragraphs"


async def test_markdown_is_sent_as_telegram_html(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    await start_channel(answer=lambda _: "**bold** and `x < y`")
    fake.enqueue_text(CHAT, USER, "format")
    [reply] = await fake.wait_for_messages(CHAT, 1)
    assert (reply.text, reply.parse_mode) == ("<b>bold</b> and <code>x &lt; y</code>", "HTML")


async def test_html_refused_by_telegram_falls_back_to_plain_text(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    await start_channel(answer=lambda _: "**bold** claim")
    fake.fail("sendMessage", 400, "Bad Request: can't parse entities: unsupported start tag")
    fake.enqueue_text(CHAT, USER, "format")

    [reply] = await fake.wait_for_messages(CHAT, 1)

    assert (reply.text, reply.parse_mode) == ("**bold** claim", None)


async def test_flood_control_pauses_the_chat_for_retry_after(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    await start_channel()
    fake.rate_limit("sendMessage", retry_after=1)
    fake.enqueue_text(CHAT, USER, "hi")

    [reply] = await fake.wait_for_messages(CHAT, 1)

    refused, accepted = fake.calls_of("sendMessage")
    assert reply.visible_text == "echo: hi"
    assert accepted.at - refused.at >= 0.95, "waited out retry_after before trying again"


async def test_server_errors_are_retried(fake: FakeTelegramServer, start_channel: Start) -> None:
    await start_channel()
    fake.fail("sendMessage", 502, "Bad Gateway", times=2)
    fake.enqueue_text(CHAT, USER, "hi")
    [reply] = await fake.wait_for_messages(CHAT, 1)
    assert reply.visible_text == "echo: hi"
    assert len(fake.calls_of("sendMessage")) == 3


async def test_server_errors_beyond_max_attempts_are_still_retried(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(answer=None, max_send_attempts=2)
    fake.fail("sendMessage", 500, times=3)
    inbox_id = await harness.inbox.add("telegram", "u7", f"telegram:{CHAT}", "{}")
    reply = OutgoingMessage(CONVERSATION, "not lost", "turn-x", source_inbox_id=inbox_id)

    await harness.channel.deliver(reply)

    assert [m.visible_text for m in fake.messages_to(CHAT)] == ["not lost"]
    assert inbox_id in harness.inbox.done


async def test_a_reply_refused_for_good_is_recorded_as_failed_and_logged_at_error(
    fake: FakeTelegramServer, start_channel: Start, caplog: pytest.LogCaptureFixture
) -> None:
    harness = await start_channel(answer=None, max_send_attempts=2)
    fake.fail_for("sendMessage", 403, "Forbidden: bot was blocked by the user")
    inbox_id = await harness.inbox.add("telegram", "u8", f"telegram:{CHAT}", "{}")
    reply = OutgoingMessage(CONVERSATION, "blocked", "turn-b", source_inbox_id=inbox_id)

    with pytest.raises(DeliveryRefused):
        await harness.channel.deliver(reply)

    assert len(fake.calls_of("sendMessage")) == 2, "max_send_attempts bounds a refusal"
    assert "blocked by the user" in (await harness.ledger.failure("turn-b") or "")
    assert inbox_id in harness.inbox.done, "given up: a restart does not try it again"
    [given_up] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "given up" in given_up.getMessage()


async def test_buttons_go_on_the_last_chunk(fake: FakeTelegramServer, start_channel: Start) -> None:
    harness = await start_channel(answer=None)
    buttons = (Button("Yes", "confirm:yes"), Button("No", "confirm:no"))
    await harness.channel.deliver(OutgoingMessage(CONVERSATION, "Sure?", "t1", buttons=buttons))
    [reply] = fake.messages_to(CHAT)
    assert reply.reply_markup == {
        "inline_keyboard": [
            [
                {"text": "Yes", "callback_data": "confirm:yes"},
                {"text": "No", "callback_data": "confirm:no"},
            ]
        ]
    }


async def test_delivering_the_same_reply_twice_shows_it_once(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(answer=None)
    reply = OutgoingMessage(CONVERSATION, long_answer(), "turn-twice")
    await harness.channel.deliver(reply)
    first = len(fake.messages_to(CHAT))
    await harness.channel.deliver(reply)
    assert len(fake.messages_to(CHAT)) == first


async def test_a_restart_resumes_at_the_first_unrecorded_chunk(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    # The previous run sent chunks 0 and 1 of this turn, then died.
    ledger = InMemoryDeliveryLedger()
    await ledger.record("turn-1", 0, "900")
    await ledger.record("turn-1", 1, "901")
    inbox, _ = await stored_by_an_earlier_run(fake.text_update(CHAT, USER, "tell me a lot"))
    answer = long_answer()

    harness = await start_channel(answer=lambda _: answer, ledger=ledger, inbox=inbox)
    await until(lambda: 1 in harness.inbox.done)

    chunks = [m.visible_text for m in fake.messages_to(CHAT)]
    assert chunks[0].startswith("Paragraph"), "resumed at a chunk boundary"
    assert "Paragraph 0:" not in " ".join(chunks), "chunk 0 was not sent again"
    assert squeeze(answer).endswith(squeeze(" ".join(chunks)))
    assert sorted(ledger.chunks["turn-1"]) == list(range(2 + len(chunks)))


async def test_typing_is_shown(fake: FakeTelegramServer, start_channel: Start) -> None:
    harness = await start_channel(answer=None)
    started = time.monotonic()
    await harness.channel.show_typing(CONVERSATION)
    [call] = fake.calls_of("sendChatAction")
    assert call.params["action"] == "typing" and call.at >= started


async def test_a_chunk_on_its_way_when_the_reply_is_cancelled_is_still_recorded(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(answer=None)
    fake.hold("sendMessage")
    delivering = asyncio.create_task(
        harness.channel.deliver(OutgoingMessage(CONVERSATION, long_answer(), "turn-cut"))
    )
    await until(lambda: fake.held("sendMessage") == 1)

    delivering.cancel()  # the daemon stopping mid-reply
    stopping = asyncio.create_task(harness.channel.stop())
    await asyncio.sleep(0.05)
    fake.release("sendMessage")
    await stopping
    await asyncio.gather(delivering, return_exceptions=True)

    # Telegram took chunk 0; the ledger knows, so a restart will not send it again,
    # and the stopped channel started no further chunk.
    assert len(fake.messages_to(CHAT)) == 1
    assert list(harness.ledger.chunks["turn-cut"]) == [0]


async def test_a_chunk_another_replica_holds_is_waited_for_and_not_sent_again(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    # Replica a claimed chunk 0 of this turn and is sending it; its bus message went to
    # replica b (a hung), which delivers the same reply.
    other = InMemoryDeliveryLedger(owner="a")
    assert (await other.claim("turn-shared", 0)).won
    ledger = InMemoryDeliveryLedger(owner="b", shared_with=other)
    harness = await start_channel(answer=None, ledger=ledger)
    answer = long_answer()

    delivering = asyncio.create_task(
        harness.channel.deliver(OutgoingMessage(CONVERSATION, answer, "turn-shared"))
    )
    await asyncio.sleep(0.3)
    assert fake.messages_to(CHAT) == [], "b waits while a holds chunk 0"
    await other.record("turn-shared", 0, "900")  # a sent it
    await delivering

    chunks = [m.visible_text for m in fake.messages_to(CHAT)]
    assert chunks and "Paragraph 0:" not in " ".join(chunks), "chunk 0 went out once, by a"
    assert squeeze(answer).endswith(squeeze(" ".join(chunks)))
    assert ledger.chunks["turn-shared"][0] == "900"


async def test_a_chunk_whose_holder_died_is_sent_once_its_lease_lapses(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    other = InMemoryDeliveryLedger(owner="a", lease_seconds=0.2)
    assert (await other.claim("turn-orphan", 0)).won  # then a died mid-send
    ledger = InMemoryDeliveryLedger(owner="b", shared_with=other)
    harness = await start_channel(answer=None, ledger=ledger)
    answer = long_answer()

    await harness.channel.deliver(OutgoingMessage(CONVERSATION, answer, "turn-orphan"))

    chunks = [m.visible_text for m in fake.messages_to(CHAT)]
    assert chunks[0].startswith("Paragraph 0:"), "nothing lost: chunk 0 sent by b"
    assert squeeze(" ".join(chunks)) == squeeze(answer)
