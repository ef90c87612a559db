"""Webhook mode: the secret header is enforced and updates are stored before the 200."""

from __future__ import annotations

import pytest

from minibot.adapters.config.schema import TelegramSettings
from minibot.adapters.messaging.telegram import TelegramChannel
from minibot.app.event_bus import EventBus
from minibot.core.errors import ConfigError
from tests.adapters.messaging.telegram.conftest import CHAT, USER, Harness, Start, free_port
from tests.fakes.memory import InMemoryDeliveryLedger, InMemoryInbox
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.timeout(30)

SECRET = "s3cret-token_value"


async def start_webhook(start_channel: Start) -> tuple[Harness, int]:
    port = free_port()
    harness = await start_channel(
        mode="webhook",
        url=f"http://127.0.0.1:{port}/telegram/hook",
        listen_port=port,
        secret_token=SECRET,
    )
    return harness, port


async def test_a_pushed_update_is_answered(fake: FakeTelegramServer, start_channel: Start) -> None:
    harness, port = await start_webhook(start_channel)
    assert fake.webhook == {
        "url": f"http://127.0.0.1:{port}/telegram/hook",
        "secret_token": SECRET,
        "allowed_updates": ["message", "callback_query"],
    }

    status = await fake.push_webhook(fake.text_update(CHAT, USER, "via webhook"))

    assert status == 200
    # The 200 came only after the update was stored, and synced to disk.
    assert len(harness.inbox.items) == 1
    assert harness.inbox.syncs == 1
    [reply] = await fake.wait_for_messages(CHAT, 1)
    assert reply.visible_text == "echo: via webhook"
    assert not fake.calls_of("getUpdates"), "webhook mode does not poll"


async def test_requests_without_the_secret_are_refused(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    harness, _ = await start_webhook(start_channel)

    missing = await fake.push_webhook(fake.text_update(CHAT, USER, "a"), secret=None)
    wrong = await fake.push_webhook(fake.text_update(CHAT, USER, "b"), secret="guess")

    assert (missing, wrong) == (403, 403)
    assert harness.inbox.items == {}
    assert harness.received == []


async def test_a_duplicate_push_is_answered_once(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    await start_webhook(start_channel)
    update = fake.text_update(CHAT, USER, "once")
    assert await fake.push_webhook(update) == 200
    assert await fake.push_webhook(update) == 200
    assert await fake.push_webhook(fake.text_update(CHAT, USER, "next")) == 200

    replies = await fake.wait_for_messages(CHAT, 2)

    assert [r.visible_text for r in replies] == ["echo: once", "echo: next"]


async def test_a_malformed_body_is_acknowledged_and_skipped(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    await start_webhook(start_channel)
    assert await fake.push_webhook({"update_id": 1, "message": "garbage"}) == 200
    assert await fake.push_webhook(fake.text_update(CHAT, USER, "fine")) == 200
    [reply] = await fake.wait_for_messages(CHAT, 1)
    assert reply.visible_text == "echo: fine"


async def test_a_webhook_without_a_secret_is_refused_at_start(fake: FakeTelegramServer) -> None:
    # Disabled settings skip the schema's own check; the channel must still refuse.
    settings = TelegramSettings(
        bot_token="123456:TEST-fake-token-abcdefghijklmnopqrstuvwxyz",
        api_base=fake.base_url,
        mode="webhook",
        url="https://example.org/hook",
    )
    channel = TelegramChannel(settings, EventBus(), InMemoryInbox(), InMemoryDeliveryLedger())

    with pytest.raises(ConfigError, match="secret_token"):
        await channel.start()
    await channel.stop()
    assert fake.calls == [], "nothing was sent to Telegram"


async def test_switching_back_to_polling_deletes_the_webhook(
    fake: FakeTelegramServer, start_channel: Start
) -> None:
    fake.webhook = {"url": "https://old.example/hook", "secret_token": "x"}
    await start_channel()
    fake.enqueue_text(CHAT, USER, "polling again")
    [reply] = await fake.wait_for_messages(CHAT, 1)
    assert reply.visible_text == "echo: polling again"
    assert fake.webhook is None
