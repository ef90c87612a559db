"""Logging: correlation id on every line of one event's handling, and redaction."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from minibot.adapters.config.schema import LoggingSettings
from minibot.adapters.logging.setup import configure_logging
from minibot.app.event_bus import EventBus
from minibot.core.commands import SendReply
from minibot.core.events import MessageReceived
from minibot.shared.correlation import correlated
from tests.app.harness import build_app

TOKEN = "123456789:AAHfakefakefakefakefakefakefakefake12"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging(
        LoggingSettings(level="DEBUG", format="json"), [TOKEN, "sk-configured-key"], buffer
    )
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


async def test_every_line_of_one_message_carries_one_correlation_id(captured: io.StringIO) -> None:
    app = build_app()
    extra_log = logging.getLogger("minibot.test.subscriber")

    async def on_message(event: MessageReceived) -> None:
        await asyncio.sleep(0)
        extra_log.info("message seen")

    app.bus.subscribe(MessageReceived, on_message, name="message-watcher")
    await app.start()
    with correlated("corr-one"):
        await app.say("first")
    with correlated("corr-two"):
        await app.say("second", chat_id="2")
    await app.settle()
    await app.stop()
    records = [
        r for r in lines(captured) if r["msg"] in {"message seen", "reply seen", "message received"}
    ]
    assert len(records) == 6
    by_id: dict[object, int] = {}
    for record in records:
        by_id[record["correlation_id"]] = by_id.get(record["correlation_id"], 0) + 1
    assert by_id == {"corr-one": 3, "corr-two": 3}
    assert all(record["component"] for record in records)


def test_a_token_in_a_logged_url_is_masked_in_logfmt() -> None:
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = list(root.handlers)
    try:
        configure_logging(LoggingSettings(), [TOKEN], buffer)
        logging.getLogger("aiogram.client").info(
            "request failed", extra={"url": f"https://api.telegram.org/bot{TOKEN}/getUpdates"}
        )
        try:
            raise RuntimeError(f"POST /bot{TOKEN}/sendMessage: 500")
        except RuntimeError:
            logging.getLogger("x").exception("boom with sk-configured-key and %s", TOKEN)
    finally:
        root.handlers[:] = saved
    output = buffer.getvalue()
    assert TOKEN not in output and "AAHfake" not in output
    assert "bot***/getUpdates" in output and "***/sendMessage" in output


def test_unconfigured_but_token_shaped_secrets_are_masked(captured: io.StringIO) -> None:
    logging.getLogger("x").warning("key sk-abcdefghijklmnopqrstuvwx leaked")
    assert "sk-abcdefghijklmnopqrstuvwx" not in captured.getvalue()


async def test_the_bus_keeps_the_correlation_id_across_task_hops(captured: io.StringIO) -> None:
    bus = EventBus()
    log = logging.getLogger("minibot.hop")

    async def second(event: SendReply) -> None:
        log.info("second hop")

    async def first(event: MessageReceived) -> None:
        log.info("first hop")
        await asyncio.create_task(bus.publish(SendReply(None)))  # type: ignore[arg-type]

    bus.subscribe(MessageReceived, first, name="first")
    bus.subscribe(SendReply, second, name="second")
    await bus.start()
    with correlated("hop-id"):
        await bus.publish(MessageReceived(None))  # type: ignore[arg-type]
    await bus.stop()
    hops = [r for r in lines(captured) if r["msg"] in {"first hop", "second hop"}]
    assert [r["correlation_id"] for r in hops] == ["hop-id", "hop-id"]
    assert [r["component"] for r in hops] == ["first", "second"]
