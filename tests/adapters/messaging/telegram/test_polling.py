"""Long polling end to end: intake rules, the durable inbox and the echo round trip."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence

import pytest

from minibot.core.conversation import ConversationKey
from minibot.core.errors import StoreUnavailable
from minibot.core.health import Health, HealthState
from minibot.core.ports.inbox import InboxEntry
from tests.adapters.messaging.telegram.conftest import (
    CHAT,
    COMMANDS,
    USER,
    Start,
    stored_by_an_earlier_run,
    until,
)
from tests.fakes.memory import InMemoryInbox
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.timeout(30)


async def test_a_message_is_answered_and_its_update_confirmed(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel()
    update = fake.enqueue_text(CHAT, USER, "hello")

    [reply] = await fake.wait_for_messages(CHAT, 1)

    assert reply.visible_text == "echo: hello"
    await fake.wait_for(lambda: fake.confirmed_offset > update["update_id"])
    await until(lambda: harness.inbox.done == {harness.received[0].inbox_id})
    assert fake.calls_of("deleteWebhook"), "polling mode removes any webhook first"
    assert [c["command"] for c in fake.commands] == [name for name, _ in COMMANDS]


async def test_a_stranger_is_told_their_ids_and_nothing_is_published(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel()
    fake.enqueue_text(777, 999, "let me in")

    [refusal] = await fake.wait_for_messages(777, 1)

    assert "999" in refusal.visible_text and "777" in refusal.visible_text
    assert harness.received == []
    assert harness.inbox.items == {}


async def test_empty_allowlists_refuse_everyone_unless_open_mode(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    await start_channel(allowed_user_ids=[])
    fake.enqueue_text(CHAT, USER, "hi")
    [refusal] = await fake.wait_for_messages(CHAT, 1)
    assert "42" in refusal.visible_text


async def test_open_mode_answers_anyone(fake: FakeTelegramServer, start_channel: Start) -> None:
    await start_channel(allowed_user_ids=[], open_mode=True)
    fake.enqueue_text(555, 555, "hi")
    [reply] = await fake.wait_for_messages(555, 1)
    assert reply.visible_text == "echo: hi"


async def test_an_allowed_chat_admits_its_members(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    await start_channel(allowed_user_ids=[], allowed_chat_ids=[-100])
    fake.enqueue_text(-100, 31337, "@minibot_test_bot hi")
    [reply] = await fake.wait_for_messages(-100, 1)
    assert reply.visible_text == "echo: hi"


async def test_in_a_group_only_mentions_and_replies_to_the_bot_are_answered(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    await start_channel(allowed_chat_ids=[-100])
    fake.enqueue_text(-100, 7, "people talking among themselves")
    fake.enqueue_text(-100, 7, "hey @minibot_test_bot what time is it")
    [first] = await fake.wait_for_messages(-100, 1)
    fake.enqueue_text(-100, 7, "and tomorrow?", reply_to=fake.bot_message(first))
    fake.enqueue_text(-100, 7, "/help@minibot_test_bot")

    replies = await fake.wait_for_messages(-100, 3)

    assert [r.visible_text for r in replies] == [
        "echo: hey what time is it",
        "echo: and tomorrow?",
        "echo: /help",
    ]


async def test_a_forum_topic_is_a_conversation_of_its_own(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel(allowed_chat_ids=[-100], group_reply="always")
    topic = {"message_thread_id": 7, "is_topic_message": True}
    fake.enqueue_text(-100, 7, "in the topic", extra=topic)
    fake.enqueue_text(-100, 7, "in the general chat")

    replies = await fake.wait_for_messages(-100, 2)

    by_text = {r.visible_text: r.message_thread_id for r in replies}
    assert by_text == {"echo: in the topic": 7, "echo: in the general chat": None}
    conversations = {m.text: m.conversation for m in harness.received}
    assert conversations["in the topic"] == ConversationKey("telegram", "-100", "7")
    assert conversations["in the general chat"] == ConversationKey("telegram", "-100")


async def test_group_reply_always_answers_every_message(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    await start_channel(allowed_chat_ids=[-100], group_reply="always")
    fake.enqueue_text(-100, 7, "no mention")
    [reply] = await fake.wait_for_messages(-100, 1)
    assert reply.visible_text == "echo: no mention"


async def test_a_sticker_gets_a_polite_text_only_line(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel()
    fake.enqueue_sticker(CHAT, USER)
    [line] = await fake.wait_for_messages(CHAT, 1)
    assert "text" in line.visible_text
    assert harness.received == []


async def test_a_duplicate_update_is_answered_once(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    await start_channel()
    update = fake.enqueue_text(CHAT, USER, "once")
    await fake.wait_for_messages(CHAT, 1)
    fake.enqueue(update)  # Telegram may deliver an unconfirmed update again
    fake.enqueue_text(CHAT, USER, "twice?")

    replies = await fake.wait_for_messages(CHAT, 2)

    assert [r.visible_text for r in replies] == ["echo: once", "echo: twice?"]


async def test_a_button_press_is_acknowledged_and_published(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel()
    fake.enqueue_callback(CHAT, USER, "tasks:list")
    await until(lambda: bool(harness.buttons))
    assert fake.calls_of("answerCallbackQuery"), "the button stops spinning"
    [pressed] = harness.buttons
    assert pressed.action == "tasks:list"
    assert pressed.conversation.chat_id == str(CHAT)
    assert pressed.sender.user_id == str(USER)
    # Stored like a message: a crash before it is handled does not lose it.
    assert pressed.inbox_id is not None
    assert '"tasks:list"' in harness.inbox.items[pressed.inbox_id].payload


async def test_a_pending_button_press_is_published_again_on_start(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    # The previous run stored the press, then died before handling it; Telegram, never
    # told, delivers it again.
    update = fake.enqueue_callback(CHAT, USER, "job:snooze:3")
    inbox, item_id = await stored_by_an_earlier_run(update)

    harness = await start_channel(inbox=inbox)
    await until(lambda: bool(harness.buttons))
    await until(lambda: fake.confirmed_offset > update["update_id"])

    [pressed] = harness.buttons
    assert (pressed.action, pressed.inbox_id) == ("job:snooze:3", item_id)


async def test_hundreds_of_malformed_updates_do_not_stop_the_channel(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    await start_channel()
    rng = random.Random(5)
    junk: list[object] = [
        {"message": "garbage"},
        {"message": {"chat": 5}},
        {"callback_query": {"id": 1}},
        {"edited_message": {"text": 3}},
        {"update_id": "not a number", "message": {}},
        {"message": {"message_id": 1, "date": 0, "chat": {"id": CHAT, "type": "private"}}},
        [1, 2, 3],
        "text",
        None,
    ]
    for _ in range(300):
        pick = rng.choice(junk)
        if rng.random() < 0.3:
            pick = {rng.choice(["foo", "message", "poll"]): rng.random()}
        fake.enqueue(pick)  # type: ignore[arg-type]
    fake.enqueue_text(CHAT, USER, "still there?")

    [reply] = await fake.wait_for_messages(CHAT, 1, timeout=20)

    assert reply.visible_text == "echo: still there?"


async def test_pending_inbox_items_are_published_again_on_start(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    update = fake.text_update(CHAT, USER, "from before the crash")
    inbox, item_id = await stored_by_an_earlier_run(update)
    # The crash came before the offset was confirmed: Telegram sends the update again.
    fake.enqueue(update)

    harness = await start_channel(inbox=inbox)
    fake.enqueue_text(CHAT, USER, "after")
    replies = await fake.wait_for_messages(CHAT, 2)

    assert [r.visible_text for r in replies] == ["echo: from before the crash", "echo: after"]
    await until(lambda: item_id in harness.inbox.done)


class RecordingInbox(InMemoryInbox):
    """Records each add_many call's external ids; fails the calls numbered in `fail_calls`."""

    def __init__(self, fail_calls: Sequence[int] = ()) -> None:
        super().__init__()
        self.batches: list[list[str]] = []
        self._fail_calls = set(fail_calls)

    async def add_many(self, channel: str, entries: Sequence[InboxEntry]) -> list[int | None]:
        self.batches.append([entry.external_id for entry in entries])
        if len(self.batches) in self._fail_calls:
            raise StoreUnavailable("disk full")
        return await super().add_many(channel, entries)


async def test_a_waiting_batch_is_stored_in_one_write_and_published_in_order(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    updates = [fake.enqueue_text(chat, USER, f"m{n}") for n, chat in enumerate([CHAT, 7, CHAT, 8])]
    inbox = RecordingInbox()

    harness = await start_channel(inbox=inbox, allowed_user_ids=[USER])
    await until(lambda: len(harness.received) == 4)

    assert inbox.batches == [[str(u["update_id"]) for u in updates]]
    assert [m.text for m in harness.received] == ["m0", "m1", "m2", "m3"]
    assert [m.inbox_id for m in harness.received] == sorted(m.inbox_id for m in harness.received)
    await fake.wait_for(lambda: fake.confirmed_offset > updates[-1]["update_id"])


async def test_a_failed_write_confirms_only_what_was_handled_before_it(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    # text, a stranger's button press (refused, not stored), text: the first text is
    # stored, the press refused, then the store of the last text fails once. Asked
    # again, the batch resumes after the press.
    first = fake.enqueue_text(CHAT, USER, "first")
    fake.enqueue_callback(CHAT, 999, "tasks:list")
    last = fake.enqueue_text(CHAT, USER, "last")
    inbox = RecordingInbox(fail_calls=[2])

    harness = await start_channel(inbox=inbox)
    await until(lambda: len(harness.received) == 2)

    assert inbox.batches == [
        [str(first["update_id"])],
        [str(last["update_id"])],
        [str(last["update_id"])],
    ]
    assert [m.text for m in harness.received] == ["first", "last"]
    assert harness.buttons == []
    assert len(fake.calls_of("answerCallbackQuery")) == 1, "the refusal is not sent twice"
    assert inbox.dead_letters == [], "a store that is down is not the update's fault"


class SlowSyncInbox(InMemoryInbox):
    """An inbox whose sync (to disk) waits until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__()
        self.synced = asyncio.Event()

    async def sync(self) -> None:
        await self.synced.wait()
        await super().sync()


async def test_an_update_is_confirmed_only_once_the_inbox_is_on_disk(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    inbox = SlowSyncInbox()
    harness = await start_channel(inbox=inbox)
    update = fake.enqueue_text(CHAT, USER, "keep me")

    await until(lambda: len(harness.received) == 1)
    await asyncio.sleep(0.1)
    assert fake.confirmed_offset <= update["update_id"], "not confirmed before the sync"

    inbox.synced.set()
    await until(lambda: fake.confirmed_offset > update["update_id"])
    assert inbox.syncs >= 1


@pytest.mark.parametrize(
    ("status", "description", "reason"),
    [
        (401, "Unauthorized", "401"),
        (409, "Conflict: terminated by other getUpdates request", "another process polls"),
    ],
)
async def test_lost_authorisation_is_an_error_degrades_health_and_is_retried_with_back_off(
    fake: FakeTelegramServer,
    start_channel: Start,
    caplog: pytest.LogCaptureFixture,
    status: int,
    description: str,
    reason: str,
) -> None:
    # A revoked token (401) or a second poller (409) was retried for ever at WARNING.
    fake.fail("getUpdates", status, description, times=2)

    harness = await start_channel()
    await until(lambda: harness.channel.health.state is HealthState.DEGRADED)

    assert reason in (harness.channel.health.reason or "")
    refused = [r for r in caplog.records if r.getMessage() == "telegram getUpdates refused"]
    assert refused and all(r.levelno == logging.ERROR for r in refused)
    # Once Telegram takes the calls again, the channel is healthy and answers.
    fake.enqueue_text(CHAT, USER, "back?")
    [reply] = await fake.wait_for_messages(CHAT, 1, timeout=20)
    assert reply.visible_text == "echo: back?"
    assert harness.channel.health == Health(HealthState.READY)
    first, second, third = (call.at for call in fake.calls_of("getUpdates")[:3])
    assert third - second > second - first >= 1.0, "each retry waits longer"


async def test_a_polling_loop_that_died_is_reported_by_run_and_a_new_run_polls_again(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness = await start_channel()
    supervised = asyncio.create_task(harness.channel.run())
    await asyncio.sleep(0)
    polling = harness.channel._polling
    assert polling is not None
    polling.cancel()  # the loop ending while intake is open, whatever the cause
    with pytest.raises(RuntimeError, match="polling ended"):
        await asyncio.wait_for(supervised, 5)
    # The supervisor's restart: a new loop, which receives and answers again.
    supervised = asyncio.create_task(harness.channel.run())
    fake.enqueue_text(CHAT, USER, "still there?")
    [reply] = await fake.wait_for_messages(CHAT, 1)
    assert reply.visible_text == "echo: still there?"
    await harness.channel.close_intake()
    assert await asyncio.wait_for(supervised, 5) is None
