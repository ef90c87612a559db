"""A channel over stdin/stdout, line by line, with the intake and delivery of every channel."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import uuid
from collections.abc import Iterable
from typing import IO, Any, TextIO

from minibot.adapters.messaging.console.console_parser import CHANNEL, ConsoleLine, ConsoleParser
from minibot.adapters.messaging.console.console_sender import ConsoleSender
from minibot.app.channels.allowlist import Allowlist
from minibot.app.channels.channel_intake import ChannelIntake
from minibot.app.channels.chat_throttle import ChatThrottle
from minibot.app.channels.reply_delivery import ReplyDelivery
from minibot.core.channel_update import ChannelUpdate
from minibot.core.conversation import ConversationKey
from minibot.core.delivery import TurnRef
from minibot.core.errors import ChannelError
from minibot.core.health import HealthBoard
from minibot.core.messages import OutgoingMessage
from minibot.core.ports.bus import Bus
from minibot.core.ports.delivery_ledger import DeliveryLedger
from minibot.core.ports.inbox import Inbox
from minibot.core.ports.tracer import Tracer
from minibot.core.tracing import NO_TRACER

log = logging.getLogger(__name__)

# At stop, how long a chunk being printed and recorded may take to finish.
_SEND_GRACE_SECONDS = 5.0


class ConsoleChannel:
    """Reads one message per line of input and prints each reply prefixed `minibot> `.
    Lines go through the same intake as any channel (the allowlist, by default just the
    console's own user; the durable inbox, keyed by a line id unique across runs) and
    replies through the same ledgered delivery, so a line is answered once and a replayed
    turn is not printed twice; lines left unanswered by an earlier run are answered at
    start.

    At end of input `run` waits for the answer to every line read, then returns and the
    daemon stops. Each turn ends within the model's own deadlines, so the wait is not
    bounded by the shutdown budget; should no answer come for `answer_timeout_seconds`,
    each line still waiting gets one short line saying so. A stop before then (Ctrl-C,
    SIGTERM) logs how many lines went unanswered.
    """

    name = CHANNEL

    def __init__(
        self,
        bus: Bus,
        inbox: Inbox,
        ledger: DeliveryLedger,
        *,
        user_id: str,
        chat_id: str,
        answer_timeout_seconds: float,
        stdin: IO[Any] | None = None,
        stdout: TextIO | None = None,
        allowed_user_ids: Iterable[str] | None = None,
        max_chunk_chars: int | None = None,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self._answer_timeout = answer_timeout_seconds
        self._stdin: IO[Any] = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._open = True
        self._count = 0
        # Line ids are unique across runs (the inbox and the history outlive the process).
        self._run_id = uuid.uuid4().hex[:8]
        # Turn id -> what to call the line, for every line read and not yet answered.
        self._unanswered: dict[str, str] = {}
        self._line_numbers: dict[str, int] = {}
        self._progress = asyncio.Event()
        self._sender = ConsoleSender(self._stdout, max_chunk_chars=max_chunk_chars)
        self._throttle = ChatThrottle(1, HealthBoard(), platform=CHANNEL, publish=bus.publish)
        self._delivery = ReplyDelivery(
            channel=CHANNEL,
            sender=self._sender,
            throttle=self._throttle,
            ledger=ledger,
            inbox=inbox,
            publish=bus.publish,
            tracer=tracer,
        )
        allowed = [user_id] if allowed_user_ids is None else list(allowed_user_ids)
        self.intake = ChannelIntake(
            channel=CHANNEL,
            parser=ConsoleParser(user_id, chat_id),
            sender=self._sender,
            allowlist=Allowlist(allowed, ()),
            inbox=inbox,
            bus=bus,
            notify=self._notify,
            stored=self._awaiting,
            tracer=tracer,
        )

    async def start(self) -> None:
        self._open = True
        await self.intake.republish_pending()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        # Bytes where there are any, so a line that is not UTF-8 is set aside, not fatal.
        source: IO[Any] = getattr(self._stdin, "buffer", self._stdin)

        def read() -> None:
            # A daemon thread: a blocking read of a terminal cannot be cancelled, and it
            # must not keep the process alive at exit.
            for line in source:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=read, name="console-stdin", daemon=True).start()
        while self._open:
            line = await lines.get()
            if line is None:
                await self._await_answers()
                return
            await self.receive(line)

    async def receive(self, content: str | bytes, *, line_id: str | None = None) -> None:
        """Takes one line of input (blank lines are skipped); `line_id` names it when it
        comes again (a duplicate is answered once), a fresh one by default."""
        if not content.strip():
            return
        self._count += 1
        line_id = line_id or f"{self._run_id}-{self._count}"
        self._line_numbers[line_id] = self._count
        await self.intake.handle(ConsoleLine(line_id, content))

    def _awaiting(self, update: ChannelUpdate, turn: TurnRef) -> None:
        number = self._line_numbers.pop(update.platform_id, None)
        label = f"line {number}" if number is not None else f"earlier line {update.platform_id}"
        self._unanswered[turn.turn_id] = label

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
        labels = list(self._unanswered.values())
        self._unanswered.clear()
        log.warning("gave up waiting for answers", extra={"unanswered": len(labels)})
        for label in labels:
            self._sender.write(f"(no answer to {label}: gave up waiting for the model)")

    async def close_intake(self) -> None:
        self._open = False
        self._throttle.drain()

    async def stop(self) -> None:
        self._open = False
        if self._unanswered:
            log.warning(
                "stopped before answering every line",
                extra={"unanswered": len(self._unanswered)},
            )
            self._unanswered.clear()
        self._throttle.close()
        await self._delivery.close(_SEND_GRACE_SECONDS)
        self._stdout.flush()

    async def deliver(self, reply: OutgoingMessage) -> None:
        try:
            await self._delivery.deliver(reply)
        finally:
            self._unanswered.pop(reply.turn_id, None)
            self._progress.set()

    async def _notify(self, notice: OutgoingMessage) -> None:
        try:
            await self._delivery.deliver(notice)
        except ChannelError as exc:
            log.warning("console notice not shown", extra={"error": str(exc)})

    async def show_draft(self, conversation: ConversationKey, turn_id: str, text: str) -> None:
        # A streamed answer still growing: its turn is alive, however long it runs.
        self._progress.set()

    async def show_typing(self, conversation: ConversationKey) -> None:
        pass
