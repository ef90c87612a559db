"""A channel over stdin/stdout, driven line by line, using the same bus as Telegram."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import uuid
from datetime import UTC, datetime
from typing import TextIO

from minibot.app.dispatcher import turn_id_for
from minibot.core.conversation import ConversationKey
from minibot.core.events import MessageReceived
from minibot.core.messages import IncomingMessage, OutgoingMessage, Sender
from minibot.core.ports.bus import Bus

PROMPT_REPLY = "minibot> "

log = logging.getLogger(__name__)


class ConsoleChannel:
    """Reads one message per line of input and prints each reply prefixed `minibot> `.

    At end of input `run` waits for the answer to every line read, then returns and the
    daemon stops. Each turn ends within the model's own deadlines, so the wait is not
    bounded by the shutdown budget; should no answer come for `answer_timeout_seconds`,
    each line still waiting gets one short line saying so. A stop before then (Ctrl-C,
    SIGTERM) logs how many lines went unanswered.
    """

    name = "console"

    def __init__(
        self,
        bus: Bus,
        *,
        user_id: str,
        chat_id: str,
        answer_timeout_seconds: float,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self._bus = bus
        self._sender = Sender("console", user_id, user_id)
        self._conversation = ConversationKey("console", chat_id)
        self._answer_timeout = answer_timeout_seconds
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._open = True
        self._count = 0
        # Message ids are unique across runs (the history outlives the process), so a
        # line's turn id never matches an earlier run's stored answer.
        self._run_id = uuid.uuid4().hex[:8]
        # Turn id -> line number of every line read and not yet answered, in read order.
        self._unanswered: dict[str, int] = {}
        self._progress = asyncio.Event()

    async def start(self) -> None:
        self._open = True

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()

        def read() -> None:
            # A daemon thread: a blocking read of a terminal cannot be cancelled, and it
            # must not keep the process alive at exit.
            for line in self._stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=read, name="console-stdin", daemon=True).start()
        while self._open:
            line = await lines.get()
            if line is None:
                await self._await_answers()
                return
            text = line.strip()
            if text:
                await self._publish(text)

    async def _publish(self, text: str) -> None:
        self._count += 1
        message = IncomingMessage(
            self._conversation,
            self._sender,
            text,
            received_at=datetime.now(UTC),
            message_id=f"{self._run_id}-{self._count}",
        )
        self._unanswered[turn_id_for(message)] = self._count
        await self._bus.publish(MessageReceived(message))

    async def _await_answers(self) -> None:
        # Lines are answered in order, one turn after another: the limit is on the wait
        # for the next sign of progress, not on all of them together.
        while self._unanswered:
            self._progress.clear()
            try:
                async with asyncio.timeout(self._answer_timeout):
                    await self._progress.wait()
            except TimeoutError:
                self._give_up()

    def _give_up(self) -> None:
        numbers = list(self._unanswered.values())
        self._unanswered.clear()
        log.warning("gave up waiting for answers", extra={"unanswered": len(numbers)})
        for number in numbers:
            self._write(f"(no answer to line {number}: gave up waiting for the model)")

    async def close_intake(self) -> None:
        self._open = False

    async def stop(self) -> None:
        self._open = False
        if self._unanswered:
            log.warning(
                "stopped before answering every line",
                extra={"unanswered": len(self._unanswered)},
            )
            self._unanswered.clear()
        self._stdout.flush()

    async def deliver(self, reply: OutgoingMessage) -> None:
        text = reply.text
        if reply.buttons:
            text += "\n" + "  ".join(f"[{button.label}]" for button in reply.buttons)
        self._write(text)
        self._unanswered.pop(reply.turn_id, None)
        self._progress.set()

    def _write(self, text: str) -> None:
        self._stdout.write(PROMPT_REPLY + text.replace("\n", "\n         ") + "\n")
        self._stdout.flush()

    async def show_draft(self, conversation: ConversationKey, turn_id: str, text: str) -> None:
        # A streamed answer still growing: its turn is alive, however long it runs.
        self._progress.set()

    async def show_typing(self, conversation: ConversationKey) -> None:
        pass
