"""The dispatcher: takes messages off the bus and runs commands or conversation turns."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from minibot.app import replies
from minibot.app.approvals.approval_buttons import ApprovalButtons
from minibot.app.commands import ButtonRequest, CommandReply, CommandRequest, CommandRouter
from minibot.app.lanes import KeyedLanes, LanedService
from minibot.app.steering import Steering
from minibot.core.commands import SendReply
from minibot.core.conversation import ConversationKey
from minibot.core.conversation_settings import BusyPolicy
from minibot.core.delivery import TurnRef
from minibot.core.events import ApprovalExpired, ButtonPressed, MessageReceived
from minibot.core.identity import OwnerResolver
from minibot.core.messages import IncomingMessage, OutgoingMessage, Sender
from minibot.core.ports.bus import Bus
from minibot.core.ports.conversation_settings_store import ConversationSettingsStore
from minibot.shared.correlation import correlated, correlation_id

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _RunningTurn:
    """A conversation turn in progress: what a newer message may steer or interrupt."""

    task: asyncio.Task[None]
    steering: Steering
    sender: Sender
    interrupted: bool = False


class TurnHandler(Protocol):
    """Answers a message that is not a command: `ConversationService`, or `MediaTurns`
    around it when media is on. `steering` takes messages that join a running turn."""

    async def handle(
        self,
        message: IncomingMessage,
        *,
        owner_id: str,
        turn_id: str,
        steering: Steering | None = None,
    ) -> None: ...

    async def mark_interrupted(
        self, message: IncomingMessage, *, owner_id: str, turn_id: str
    ) -> None: ...


class Dispatcher(LanedService):
    """Handles each conversation's messages strictly in order, and different
    conversations concurrently up to `max_concurrent`. Any failure inside one message's
    handling is logged with its correlation id and answered with a short apology; the
    dispatcher goes on.

    A message arriving while its conversation's turn runs follows the busy policy (the
    conversation's own, else `busy_policy`): queue waits its turn; steer hands it to the
    running turn, which reads it before its next model call; interrupt cancels the
    running turn (stored as interrupted, its asker told) and the new message is next.
    Commands always queue."""

    name = "dispatcher"

    def __init__(
        self,
        *,
        bus: Bus,
        conversation: TurnHandler,
        commands: CommandRouter,
        owners: OwnerResolver,
        max_concurrent: int,
        max_pending: int,
        approvals: ApprovalButtons | None = None,
        busy_policy: BusyPolicy = BusyPolicy.QUEUE,
        conversation_settings: ConversationSettingsStore | None = None,
    ) -> None:
        self._bus = bus
        self._busy_policy = busy_policy
        self._chats = conversation_settings
        self._running: dict[ConversationKey, _RunningTurn] = {}
        self._approvals = approvals
        self._conversation = conversation
        self._commands = commands
        self._owners = owners
        self._lanes = KeyedLanes(
            "dispatcher", max_concurrent=max_concurrent, max_pending=max_pending
        )
        # Inline: the handlers only hand the event to the lanes (the backpressure).
        bus.subscribe(MessageReceived, self._on_message, name="dispatcher", inline=True)
        bus.subscribe(ButtonPressed, self._on_button, name="buttons", inline=True)
        if approvals is not None:
            bus.subscribe(ApprovalExpired, self._on_expired, name="approvals", inline=True)

    async def _on_message(self, event: MessageReceived) -> None:
        message = event.message
        running = self._running.get(message.conversation)
        if running is not None and await self._joined(message, running):
            return
        with correlated(correlation_id.get()):
            await self._lanes.submit(message.conversation, lambda: self._handle(message))

    async def _joined(self, message: IncomingMessage, running: _RunningTurn) -> bool:
        """Applies the busy policy to `message`; True when the running turn took it."""
        # Only the turn's own asker steers or interrupts it: in a group, another member's
        # words must never run as the asker's (their data, their tools).
        if (
            message.sender != running.sender
            or self._commands.parse(message.text) is not None
            or running.steering.closed
        ):
            return False
        policy = await self._policy(message.conversation)
        if policy is BusyPolicy.STEER:
            return running.steering.add(message)
        if policy is BusyPolicy.INTERRUPT and not running.interrupted:
            running.interrupted = True
            running.task.cancel()
        return False

    async def _policy(self, conversation: ConversationKey) -> BusyPolicy:
        if self._chats is None:
            return self._busy_policy
        chosen = await self._chats.busy_policy(conversation)
        return chosen or self._busy_policy

    async def _converse(self, message: IncomingMessage, owner_id: str, turn: TurnRef) -> None:
        """One conversation turn, in its own task so that a newer message can cancel it
        (or steer into it); under "queue" nothing can, and it runs in the lane's task."""
        if await self._policy(message.conversation) is BusyPolicy.QUEUE:
            await self._conversation.handle(message, owner_id=owner_id, turn_id=turn.turn_id)
            return
        steering = Steering()
        task = asyncio.create_task(
            self._conversation.handle(
                message, owner_id=owner_id, turn_id=turn.turn_id, steering=steering
            )
        )
        running = _RunningTurn(task, steering, message.sender)
        self._running[message.conversation] = running
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not running.interrupted or (current is not None and current.cancelling()):
                raise
            log.info("turn interrupted", extra={"conversation": str(message.conversation)})
            await self._conversation.mark_interrupted(
                message, owner_id=owner_id, turn_id=turn.turn_id
            )
            await self._answer(message.conversation, CommandReply(replies.INTERRUPTED), turn)
        finally:
            steering.close()
            if self._running.get(message.conversation) is running:
                del self._running[message.conversation]
        # Steered in as the turn ended, too late for it: each is answered on its own.
        for left in steering.take():
            await self._handle(left)

    async def _on_button(self, event: ButtonPressed) -> None:
        with correlated(correlation_id.get()):
            await self._lanes.submit(event.conversation, lambda: self._press(event))

    async def _on_expired(self, event: ApprovalExpired) -> None:
        # In the conversation's lane, like a press: an expiry and a press never race.
        with correlated(None):
            await self._lanes.submit(event.conversation, lambda: self._expire(event))

    async def _expire(self, event: ApprovalExpired) -> None:
        assert self._approvals is not None
        turn = TurnRef(f"{event.conversation}#approval-{event.approval_id}")
        try:
            reply = await self._approvals.expire(event.approval_id, turn.turn_id)
        except Exception:
            log.exception("approval expiry failed", extra={"approval_id": event.approval_id})
            return
        if reply is not None:
            await self._answer(event.conversation, reply, turn)

    async def _handle(self, message: IncomingMessage) -> None:
        turn = TurnRef.of_message(message)
        turn_id = turn.turn_id
        log.info(
            "message received",
            extra={"conversation": str(message.conversation), "chars": len(message.text)},
        )
        try:
            owner_id = self._owners.owner_of(message.sender)
            # A file's caption is said with the file, never run as a command.
            parsed = self._commands.parse(message.text) if message.media is None else None
            if parsed is None:
                await self._converse(message, owner_id, turn)
                return
            name, args = parsed
            handler = self._commands.command(name)
            if handler is None:
                reply = CommandReply(f"I don't know /{name}. Send /help for the commands I know.")
            else:
                reply = await handler(CommandRequest(message, owner_id, args, turn_id))
        except Exception:
            log.exception("handling failed", extra={"conversation": str(message.conversation)})
            reply = CommandReply(replies.INTERNAL_ERROR)
        await self._answer(message.conversation, reply, turn)

    async def _answer(
        self,
        conversation: ConversationKey,
        reply: CommandReply,
        turn: TurnRef,
    ) -> None:
        outgoing = OutgoingMessage.answering(turn, conversation, reply.text, buttons=reply.buttons)
        await self._bus.publish(SendReply(outgoing))

    async def _press(self, event: ButtonPressed) -> None:
        handler = self._commands.button(event.action)
        message = IncomingMessage(
            event.conversation, event.sender, "", received_at=datetime.now(UTC)
        )
        # A press from the inbox answers under its item: a press handled again after a
        # crash is not answered twice, and its item is done once the reply is out.
        turn = TurnRef.of_inbox(event.conversation, event.inbox_id)
        if handler is None:
            log.warning("unknown button action", extra={"action": event.action})
            reply = CommandReply(replies.STALE_BUTTON)
        else:
            try:
                owner_id = self._owners.owner_of(event.sender)
                reply = await handler(ButtonRequest(message, owner_id, event.action, turn.turn_id))
            except Exception:
                log.exception("button failed", extra={"action": event.action})
                reply = CommandReply(replies.INTERNAL_ERROR)
        await self._answer(event.conversation, reply, turn)
