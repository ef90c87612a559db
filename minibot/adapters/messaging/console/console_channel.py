"""A channel over stdin/stdout, driven line by line, using the same bus as Telegram."""

from __future__ import annotations

import asyncio
import sys
import threading
from datetime import UTC, datetime
from typing import TextIO

from minibot.app.event_bus import EventBus
from minibot.core.conversation import ConversationKey
from minibot.core.events import MessageReceived
from minibot.core.messages import IncomingMessage, OutgoingMessage, Sender

PROMPT_REPLY = "minibot> "


class ConsoleChannel:
    """Reads one message per line of input and prints each reply prefixed `minibot> `.

    `run` returns at end of input; the daemon then drains and stops, so every message
    read is answered before the process exits.
    """

    name = "console"

    def __init__(
        self,
        bus: EventBus,
        *,
        user_id: str,
        chat_id: str,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self._bus = bus
        self._sender = Sender("console", user_id, user_id)
        self._conversation = ConversationKey("console", chat_id)
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._open = True
        self._count = 0

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
            message_id=str(self._count),
        )
        await self._bus.publish(MessageReceived(message))

    async def close_intake(self) -> None:
        self._open = False

    async def stop(self) -> None:
        self._open = False
        self._stdout.flush()

    async def deliver(self, reply: OutgoingMessage) -> None:
        text = reply.text
        if reply.buttons:
            text += "\n" + "  ".join(f"[{button.label}]" for button in reply.buttons)
        self._stdout.write(PROMPT_REPLY + text.replace("\n", "\n         ") + "\n")
        self._stdout.flush()

    async def show_draft(self, conversation: ConversationKey, turn_id: str, text: str) -> None:
        pass

    async def show_typing(self, conversation: ConversationKey) -> None:
        pass
