"""The console channel over the real bus: which replies answer which lines, and the wait."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest

from minibot.adapters.messaging.console.console_channel import ConsoleChannel
from minibot.app.event_bus import EventBus
from minibot.core.delivery import TurnRef
from minibot.core.events import MessageReceived
from minibot.core.messages import IncomingMessage, OutgoingMessage
from tests.fakes.memory import InMemoryDeliveryLedger, InMemoryInbox


class Console:
    """A console reading `text`, with the messages it publishes recorded."""

    def __init__(
        self,
        text: str,
        *,
        answer_timeout_seconds: float = 30.0,
        inbox: InMemoryInbox | None = None,
    ) -> None:
        self.bus = EventBus()
        self.read: list[IncomingMessage] = []
        self.out = io.StringIO()
        self.channel = ConsoleChannel(
            self.bus,
            inbox if inbox is not None else InMemoryInbox(),
            InMemoryDeliveryLedger(),
            user_id="local",
            chat_id="console",
            answer_timeout_seconds=answer_timeout_seconds,
            stdin=io.StringIO(text),
            stdout=self.out,
        )

        async def record(event: MessageReceived) -> None:
            self.read.append(event.message)

        self.bus.subscribe(MessageReceived, record, name="record", inline=True)

    async def lines_read(self, count: int) -> None:
        for _ in range(500):
            if len(self.read) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"read {len(self.read)} lines, expected {count}")

    async def answer(self, message: IncomingMessage, text: str) -> None:
        await self.channel.deliver(
            OutgoingMessage.answering(TurnRef.of_message(message), message.conversation, text)
        )

    def replies(self) -> list[str]:
        return self.out.getvalue().splitlines()


async def test_end_of_input_returns_only_once_every_line_read_is_answered() -> None:
    console = Console("first\n\nsecond\n")
    running = asyncio.create_task(console.channel.run())
    await console.lines_read(2)
    first, second = console.read
    await console.answer(first, "one")
    # A reminder in the same conversation answers no line.
    await console.channel.deliver(OutgoingMessage(first.conversation, "tea time", "job-1#0"))
    done, _ = await asyncio.wait({running}, timeout=0.2)
    assert not done, "end of input returned with the second line unanswered"
    await console.answer(second, "two")
    await asyncio.wait_for(running, 5)
    assert console.replies() == ["minibot> one", "minibot> tea time", "minibot> two"]


async def test_lines_still_unanswered_when_the_wait_gives_up_get_a_short_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    console = Console("first\nsecond\nthird\n", answer_timeout_seconds=0.3)
    running = asyncio.create_task(console.channel.run())
    await console.lines_read(3)
    await console.answer(console.read[0], "one")
    await asyncio.wait_for(running, 5)
    assert console.replies() == [
        "minibot> one",
        "minibot> (no answer to line 2: gave up waiting for the model)",
        "minibot> (no answer to line 3: gave up waiting for the model)",
    ]
    assert "gave up waiting for answers" in caplog.text
    await console.channel.stop()
    assert "stopped before answering" not in caplog.text


async def test_a_stop_before_the_answers_logs_how_many_lines_went_unanswered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    console = Console("first\nsecond\nthird\n")
    running = asyncio.create_task(console.channel.run())
    await console.lines_read(3)
    await console.answer(console.read[0], "one")
    running.cancel()  # what the daemon does on SIGTERM
    with pytest.raises(asyncio.CancelledError):
        await running
    with caplog.at_level(logging.WARNING):
        await console.channel.stop()
    stopped = [r for r in caplog.records if r.getMessage() == "stopped before answering every line"]
    assert [r.__dict__["unanswered"] for r in stopped] == [2]


async def test_a_line_is_a_new_turn_in_every_run_so_no_stored_answer_is_replayed() -> None:
    # One store across both runs, as in the daemon (the SQL inbox).
    inbox = InMemoryInbox()
    earlier, later = Console("hello\n", inbox=inbox), Console("hello\n", inbox=inbox)
    for console in (earlier, later):
        running = asyncio.create_task(console.channel.run())
        await console.lines_read(1)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert TurnRef.of_message(earlier.read[0]) != TurnRef.of_message(later.read[0])
