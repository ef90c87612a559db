"""The channel contract: every channel keeps the same promises, written once here.

Each test runs over every channel's driver (`channel_drivers.py`); a new channel joins by
adding its driver to `channel` below."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable

import pytest

from tests.app.channels.channel_drivers import (
    ChannelDriver,
    ConsoleDriver,
    SlackDriver,
    SlackSocketDriver,
    TelegramDriver,
    WebDriver,
)
from tests.fakes.slack_server import FakeSlackServer
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["telegram", "slack", "slack-socket", "console", "web"])
async def channel(request: pytest.FixtureRequest) -> AsyncIterator[ChannelDriver]:
    driver: ChannelDriver
    fake: FakeTelegramServer | FakeSlackServer | None = None
    if request.param == "telegram":
        fake = FakeTelegramServer()
        await fake.start()
        driver = TelegramDriver(fake)
    elif request.param == "slack":
        fake = FakeSlackServer()
        await fake.start()
        driver = SlackDriver(fake)
    elif request.param == "slack-socket":
        fake = FakeSlackServer()
        await fake.start()
        driver = SlackSocketDriver(fake)
    elif request.param == "web":
        driver = WebDriver()
    else:
        driver = ConsoleDriver()
    yield driver
    await driver.stop()
    if fake is not None:
        await fake.stop()


def echo(text: str) -> str:
    return "echo: " + text


def long_answer(_: str) -> str:
    paragraphs = [
        f"Paragraph {n}: " + " ".join(f"word{n}-{i}" for i in range(120)) for n in range(12)
    ]
    return "\n\n".join(paragraphs)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_stranger_is_refused_and_nothing_reaches_the_model(
    channel: ChannelDriver,
) -> None:
    await channel.start(answer=echo, sender_allowed=False)
    await channel.send("hello?")
    await until(lambda: len(channel.shown()) == 1)
    [refusal] = channel.shown()
    assert refusal.startswith("Sorry, this bot is private. Ask its owner to allow")
    assert channel.received == [], "the model was asked for a stranger"


async def test_one_chats_messages_are_answered_in_order(channel: ChannelDriver) -> None:
    await channel.start(answer=echo)
    for text in ("one", "two", "three"):
        await channel.send(text)
    await until(lambda: len(channel.shown()) == 3)
    assert channel.shown() == ["echo: one", "echo: two", "echo: three"]


async def test_a_long_answer_is_split_with_nothing_missing(channel: ChannelDriver) -> None:
    await channel.start(answer=long_answer)
    await channel.send("tell me a lot")
    answer = long_answer("")
    await until(lambda: squeeze(" ".join(channel.shown())) == squeeze(answer))
    shown = channel.shown()
    assert len(shown) > 1, "the answer was not split"
    assert all(len(chunk) <= channel.max_chunk_chars for chunk in shown)


async def test_the_same_platform_message_delivered_twice_is_answered_once(
    channel: ChannelDriver,
) -> None:
    await channel.start(answer=echo)
    platform_id = await channel.send("hi")
    await until(lambda: len(channel.shown()) == 1)
    await channel.send("hi", platform_id=platform_id)
    await channel.send("after")
    await until(lambda: len(channel.shown()) == 2)
    assert channel.shown() == ["echo: hi", "echo: after"]
    assert [m.text for m in channel.received] == ["hi", "after"]


async def test_a_crash_between_chunks_resumes_without_duplicates(
    channel: ChannelDriver,
) -> None:
    channel.ledger.crash_after_records = 1
    await channel.start(answer=long_answer)
    await channel.send("tell me a lot")
    await asyncio.wait_for(channel.ledger.crashed.wait(), 20)
    assert len(channel.shown()) == 1, "the crash came after the first chunk"

    await channel.restart()

    answer = long_answer("")
    await until(lambda: squeeze(" ".join(channel.shown())) == squeeze(answer))
    shown = channel.shown()
    assert len(shown) == len(set(shown)) > 1, "a chunk was shown twice"


async def test_a_malformed_update_is_logged_and_skipped(
    channel: ChannelDriver, caplog: pytest.LogCaptureFixture
) -> None:
    await channel.start(answer=echo)
    with caplog.at_level(logging.WARNING):
        await channel.send_malformed()
        await channel.send("after")
        await until(lambda: "echo: after" in channel.shown())
    assert [m.text for m in channel.received] == ["after"]
    about_it = [
        r
        for r in caplog.records
        if r.getMessage() in {f"{channel.name} update skipped", f"{channel.name} update set aside"}
    ]
    assert about_it, "the malformed update was not logged"
