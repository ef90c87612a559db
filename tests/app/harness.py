"""Wires the app layer with in-memory fakes, the way the composition root wires adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from minibot.app.approvals.approval_buttons import ApprovalButtons
from minibot.app.approvals.approval_desk import ApprovalDesk
from minibot.app.basic_commands import BasicCommands
from minibot.app.budget_guard import BudgetGuard
from minibot.app.commands import CommandRouter
from minibot.app.conversation_commands import ConversationCommands
from minibot.app.conversation_service import ConversationService, TurnSettings
from minibot.app.dispatcher import Dispatcher
from minibot.app.event_bus import EventBus
from minibot.app.model_lineup import ModelLineup, ModelOption
from minibot.app.reply_router import ReplyRouter
from minibot.app.tools.registry import Tool, ToolRegistry
from minibot.core.budgets import BudgetPolicy
from minibot.core.conversation import ConversationKey
from minibot.core.conversation_settings import BusyPolicy
from minibot.core.events import ButtonPressed, MessageReceived
from minibot.core.identity import OwnerResolver
from minibot.core.messages import IncomingMessage, OutgoingMessage, Sender
from minibot.core.ports.clock import Clock
from minibot.core.ports.conversation_settings_store import ConversationSettingsStore
from minibot.core.prices import Price
from minibot.core.tool_permissions import ToolPermissions
from minibot.shared.clock import SystemClock
from tests.fakes.language_model import ScriptedLanguageModel
from tests.fakes.memory import (
    InMemoryApprovalStore,
    InMemoryConversationMemory,
    InMemoryConversationSettingsStore,
    InMemoryUsageLedger,
)


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class RecordingChannel:
    """A Channel that records what it was asked to show."""

    name: str = "test"
    delivered: list[OutgoingMessage] = field(default_factory=list)
    drafts: list[tuple[str, str]] = field(default_factory=list)
    typing: int = 0

    async def start(self) -> None:
        pass

    async def close_intake(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def deliver(self, reply: OutgoingMessage) -> None:
        self.delivered.append(reply)
        # Lets a test see that delivery runs under the message's correlation id.
        logging.getLogger("minibot.test.channel").info("reply seen")

    async def show_draft(self, conversation: ConversationKey, turn_id: str, text: str) -> None:
        self.drafts.append((turn_id, text))

    async def show_typing(self, conversation: ConversationKey) -> None:
        self.typing += 1

    def texts(self, chat_id: str | None = None) -> list[str]:
        return [
            r.text for r in self.delivered if chat_id is None or r.conversation.chat_id == chat_id
        ]


@dataclass
class AppHarness:
    bus: EventBus
    model: ScriptedLanguageModel
    memory: InMemoryConversationMemory
    usage: InMemoryUsageLedger
    channel: RecordingChannel
    dispatcher: Dispatcher
    router: ReplyRouter
    conversation: ConversationService
    commands: CommandRouter
    approvals: ApprovalDesk | None = None
    lineup: ModelLineup | None = None
    _timer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.model.start()
        if self.lineup is not None:
            await self.lineup.start()
        await self.bus.start()
        if self.approvals is not None:
            await self.approvals.start()
            self._timer = asyncio.create_task(self.approvals.run())

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await self.dispatcher.stop(5)
        await self.bus.stop()
        await self.router.stop(5)
        await self.model.stop()
        if self.lineup is not None:
            await self.lineup.stop()

    async def say(
        self,
        text: str,
        chat_id: str = "1",
        user_id: str = "7",
        *,
        name: str = "Ada",
        in_group: bool = False,
        forwarded: bool = False,
    ) -> None:
        message = IncomingMessage(
            ConversationKey("test", chat_id),
            Sender("test", user_id, name),
            text,
            received_at=datetime.now(UTC),
            in_group=in_group,
            forwarded=forwarded,
        )
        await self.bus.publish(MessageReceived(message))

    async def press(
        self, action: str, chat_id: str = "1", user_id: str = "7", *, inbox_id: int | None = None
    ) -> None:
        sender = Sender("test", user_id, "someone")
        conversation = ConversationKey("test", chat_id)
        await self.bus.publish(ButtonPressed(conversation, sender, action, inbox_id=inbox_id))

    async def settle(self) -> None:
        for _ in range(5):
            await self.bus.join()
            await self.dispatcher.join()
            await self.bus.join()
            await self.router.join()


def build_app(
    *,
    tools: Sequence[Tool] = (),
    stream: bool = False,
    history_window: int = 30,
    history_token_budget: int = 6000,
    max_tool_iterations: int = 3,
    max_concurrent: int = 16,
    approvals: InMemoryApprovalStore | None = None,
    approval_timeout_seconds: float = 60.0,
    memory: InMemoryConversationMemory | None = None,
    clock: Clock | None = None,
    lineup: ModelLineup | None = None,
    conversation_settings: ConversationSettingsStore | None = None,
    budgets: BudgetPolicy | None = None,
    completion_tokens: int = 100,
    summarize: bool = False,
    busy_policy: BusyPolicy = BusyPolicy.QUEUE,
    usage: InMemoryUsageLedger | None = None,
    model_price: Price | None = None,
    max_input_tokens: int = 8000,
    max_tool_output_chars: int = 16_000,
    permissions: ToolPermissions | None = None,
) -> AppHarness:
    """`approvals`: wire the approval desk over this store (shared across builds, as a
    database is across restarts); `memory`, `conversation_settings` and `usage` likewise.
    `lineup` answers in place of the scripted model; `budgets` guards every request,
    estimating each answer at `completion_tokens` and the scripted model at `model_price`."""
    bus = EventBus(queue_size=64)
    model = ScriptedLanguageModel()
    if lineup is None and model_price is not None:
        lineup = ModelLineup([ModelOption("default", model, model_price)], default_alias="default")
    memory = memory if memory is not None else InMemoryConversationMemory()
    usage = usage if usage is not None else InMemoryUsageLedger()
    clock = clock or WallClock()
    chats = conversation_settings or InMemoryConversationSettingsStore()
    guard = None
    if budgets is not None:
        guard = BudgetGuard(
            usage=usage, policy=budgets, clock=clock, completion_tokens=completion_tokens
        )
    channel = RecordingChannel()
    registry = ToolRegistry(
        tools,
        timeout_seconds=0.5,
        permissions=permissions,
        max_output_chars=max_tool_output_chars,
    )
    desk = None
    if approvals is not None:
        desk = ApprovalDesk(
            approvals, SystemClock(), bus.publish, timeout_seconds=approval_timeout_seconds
        )
    conversation = ConversationService(
        memory=memory,
        model=model,
        usage=usage,
        tools=registry,
        publish=bus.publish,
        clock=clock,
        settings=TurnSettings(
            system_prompt="be brief",
            history_window=history_window,
            history_token_budget=history_token_budget,
            max_tool_iterations=max_tool_iterations,
            stream=stream,
            summarize=summarize,
            max_input_tokens=max_input_tokens,
        ),
        price=lambda model, u: (u.prompt_tokens + u.completion_tokens) / 1000,
        approvals=desk,
        lineup=lineup,
        conversation_settings=chats,
        budget=guard,
    )
    commands = CommandRouter()
    buttons = None
    if desk is not None:
        buttons = ApprovalButtons(desk, conversation)
        buttons.register(commands)
    BasicCommands(
        memory=memory,
        usage=usage,
        clock=clock,
        tool_names=lambda: registry.names,
        budget=guard,
        conversation_settings=chats,
    ).register(commands)
    ConversationCommands(
        conversation=conversation, settings=chats, default_busy_policy=busy_policy
    ).register(commands)
    dispatcher = Dispatcher(
        bus=bus,
        conversation=conversation,
        commands=commands,
        owners=OwnerResolver(),
        max_concurrent=max_concurrent,
        max_pending=256,
        approvals=buttons,
        busy_policy=busy_policy,
        conversation_settings=chats,
    )
    router = ReplyRouter(bus, [channel], max_concurrent=max_concurrent)
    return AppHarness(
        bus, model, memory, usage, channel, dispatcher, router, conversation, commands, desk, lineup
    )
