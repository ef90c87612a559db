"""Poison updates: what cannot be stored is set aside, and the rest of the batch goes on."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.inbox import SqlInbox
from minibot.adapters.sql.tables import inbox as inbox_table
from minibot.core.errors import EntryRejected
from minibot.core.ports.inbox import InboxEntry
from minibot.shared import fast_json
from tests.adapters.messaging.telegram.conftest import CHAT, USER, Start, free_port, until
from tests.fakes.memory import InMemoryInbox
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.timeout(30)

SECRET = "s3cret-token_value"
SET_ASIDE = "set it aside"


@pytest.fixture
async def sql_database(tmp_path: Path) -> AsyncIterator[SqlDatabase]:
    database = SqlDatabase(f"sqlite+aiosqlite:///{tmp_path / 'minibot.db'}")
    await database.start()
    yield database
    await database.stop()


async def _payloads(database: SqlDatabase) -> list[str]:
    def operation(conn: Connection) -> list[str]:
        query = select(inbox_table.c.payload).order_by(inbox_table.c.id)
        return list(conn.execute(query).scalars())

    return await database.read(operation)


class RefusingInbox(InMemoryInbox):
    """Refuses (as a store refuses a value out of its range) every entry holding `word`."""

    def __init__(self, word: str) -> None:
        super().__init__()
        self.word = word
        self.writes = 0

    async def add_many(self, channel: str, entries: Sequence[InboxEntry]) -> list[int | None]:
        self.writes += 1
        if any(self.word in entry.payload for entry in entries):
            raise EntryRejected(f"value too long for its column: {self.word}")
        return await super().add_many(channel, entries)


def echoes_and_notices(messages: Sequence[Any]) -> tuple[list[str], list[str]]:
    texts = [m.visible_text for m in messages]
    return [t for t in texts if SET_ASIDE not in t], [t for t in texts if SET_ASIDE in t]


def set_aside_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR and r.getMessage() == "telegram update set aside"
    ]


async def test_a_lone_surrogate_is_stored_round_trips_and_is_answered(
    fake: FakeTelegramServer, start_channel: Start, sql_database: SqlDatabase
) -> None:
    # Telegram sends "\ud800" escaped in its JSON; once, the SQL write of the whole batch
    # failed on it, and the poller asked for the same batch every second for ever.
    poison = fake.enqueue_text(CHAT, USER, "half a pair: \ud800!")
    press = fake.enqueue_callback(CHAT, USER, "tasks:\udfff")
    fake.enqueue_text(CHAT, USER, "after it")

    harness = await start_channel(inbox=SqlInbox(sql_database))
    replies = await fake.wait_for_messages(CHAT, 2)
    await until(lambda: len(harness.buttons) == 1)

    assert [r.visible_text for r in replies] == ["echo: half a pair: \ufffd!", "echo: after it"]
    assert harness.buttons[0].action == "tasks:\ufffd"
    # The stored update is the update as received, the lone surrogate included.
    stored = [fast_json.loads(payload) for payload in await _payloads(sql_database)]
    assert poison in stored and press in stored
    await fake.wait_for(lambda: fake.pending_updates == 0)


async def test_a_reply_holding_a_lone_surrogate_is_delivered(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    # The model echoes the half pair back: it cannot be encoded into the request.
    await start_channel(answer=lambda text: f"you said \ud800 to me: {text}")
    fake.enqueue_text(CHAT, USER, "hi")

    [reply] = await fake.wait_for_messages(CHAT, 1)

    assert reply.visible_text == "you said \ufffd to me: hi"


async def test_an_update_the_inbox_refuses_is_set_aside_and_the_rest_answered(
    fake: FakeTelegramServer, start_channel: Start, caplog: pytest.LogCaptureFixture
) -> None:
    # Not the surrogate: the class. Whatever the store refuses (save a full disk or a
    # dead database) is kept as a dead letter, and its neighbours are stored and answered.
    first = fake.enqueue_text(CHAT, USER, "first")
    poison = fake.enqueue_text(CHAT, USER, "POISON")
    last = fake.enqueue_text(CHAT, USER, "last")
    inbox = RefusingInbox("POISON")

    harness = await start_channel(inbox=inbox)
    messages = await fake.wait_for_messages(CHAT, 3)
    await fake.wait_for(lambda: fake.confirmed_offset > last["update_id"])

    echoes, notices = echoes_and_notices(messages)
    assert echoes == ["echo: first", "echo: last"]
    assert len(notices) == 1, "the sender is told"
    assert [m.text for m in harness.received] == ["first", "last"]
    [letter] = inbox.dead_letters
    assert json.loads(letter.raw) == poison
    assert "value too long" in letter.error
    assert len(set_aside_lines(caplog)) == 1
    assert first["update_id"] < poison["update_id"] < last["update_id"]

    # Delivered again (say an earlier run died before confirming it): kept once, told once.
    fake.enqueue(poison)
    fake.enqueue_text(CHAT, USER, "later")
    await fake.wait_for_messages(CHAT, 4)
    await fake.wait_for(lambda: fake.pending_updates == 0)
    assert len(inbox.dead_letters) == 1
    assert len(set_aside_lines(caplog)) == 1
    assert sum(SET_ASIDE in m.visible_text for m in fake.messages_to(CHAT)) == 1


async def test_a_poison_button_press_is_set_aside_and_its_presser_told(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    fake.enqueue_callback(CHAT, USER, "POISON")
    fake.enqueue_text(CHAT, USER, "next")
    inbox = RefusingInbox("POISON")

    harness = await start_channel(inbox=inbox)
    [reply] = await fake.wait_for_messages(CHAT, 1)

    assert reply.visible_text == "echo: next"
    assert len(inbox.dead_letters) == 1
    assert harness.buttons == []
    [answer] = fake.calls_of("answerCallbackQuery")
    assert SET_ASIDE in answer.params["text"]


async def test_an_update_id_past_64_bits_is_set_aside_and_the_poller_backs_off(
    fake: FakeTelegramServer, start_channel: Start, caplog: pytest.LogCaptureFixture
) -> None:
    # Read as a float, the id never moved the offset: ~740 getUpdates a second. Read
    # exactly, it still cannot be confirmed (no offset of 2**64 + 1), so Telegram keeps
    # serving it: it is set aside once and the poller asks less often.
    huge = fake.enqueue({**fake.text_update(CHAT, USER, "from far away"), "update_id": 2**64})
    fake.enqueue_text(CHAT, USER, "ordinary")
    inbox = InMemoryInbox()

    await start_channel(inbox=inbox)
    await until(lambda: "asking less often" in caplog.text)
    answered = await fake.wait_for_messages(CHAT, 2)

    [letter] = inbox.dead_letters
    assert b'"update_id":18446744073709551616' in letter.raw
    assert json.loads(letter.raw) == huge
    echoes, notices = echoes_and_notices(answered)
    assert (echoes, len(notices)) == (["echo: ordinary"], 1)
    # Measuring a rate needs a window: spinning, this would be hundreds of calls.
    before = len(fake.calls_of("getUpdates"))
    await asyncio.sleep(2.0)
    assert len(fake.calls_of("getUpdates")) - before <= 4
    assert len(inbox.dead_letters) == 1
    assert len(fake.messages_to(CHAT)) == 2, "told once"
    # New messages still get through while the poller waits between asks.
    fake.enqueue_text(CHAT, USER, "still there?")
    replies = await fake.wait_for_messages(CHAT, 3, timeout=15)
    assert replies[-1].visible_text == "echo: still there?"


async def test_a_webhook_update_the_inbox_refuses_is_set_aside_with_a_200(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    # A 500 would have Telegram retry it, and hold back the updates behind it, for ever.
    inbox = RefusingInbox("POISON")
    harness = await _start_webhook(start_channel, inbox)

    poison = fake.text_update(CHAT, USER, "POISON")
    assert await fake.push_webhook(poison) == 200
    assert await fake.push_webhook(fake.text_update(CHAT, USER, "fine")) == 200

    echoes, notices = echoes_and_notices(await fake.wait_for_messages(CHAT, 2))
    assert (echoes, len(notices)) == (["echo: fine"], 1)
    [letter] = inbox.dead_letters
    assert json.loads(letter.raw) == poison
    assert inbox.syncs >= 2, "the dead letter is durable before the 200 too"
    assert [m.text for m in harness.received] == ["fine"]


async def test_a_webhook_body_that_is_not_json_is_kept_as_it_came(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    inbox = InMemoryInbox()
    await _start_webhook(start_channel, inbox)
    body = b'{"update_id": 5, "message": \xff\xfe not json'

    assert await fake.push_webhook_body(body) == 200

    [letter] = inbox.dead_letters
    assert letter.raw == body
    assert "not JSON" in letter.error


async def _start_webhook(start_channel: Start, inbox: InMemoryInbox) -> Any:
    port = free_port()
    return await start_channel(
        inbox=inbox,
        mode="webhook",
        url=f"http://127.0.0.1:{port}/telegram/hook",
        listen_port=port,
        secret_token=SECRET,
    )
