"""The composition root: reads the settings, builds every adapter, wires the services."""

from __future__ import annotations

import dataclasses
import functools
import logging
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from minibot.adapters.config.schema import LLMSettings, Settings
from minibot.adapters.llm.llm_async_model import LlmAsyncModel
from minibot.adapters.llm.pricing import cost_usd
from minibot.adapters.memory.approval_store import SqlApprovalStore
from minibot.adapters.memory.conversation_memory import SqlConversationMemory
from minibot.adapters.memory.database import SqlDatabase
from minibot.adapters.memory.delivery_ledger import SqlDeliveryLedger
from minibot.adapters.memory.inbox import SqlInbox
from minibot.adapters.memory.note_store import SqlNoteStore
from minibot.adapters.memory.retention import StorageRetention
from minibot.adapters.memory.usage_ledger import SqlUsageLedger
from minibot.adapters.messaging.console.console_channel import ConsoleChannel
from minibot.adapters.scheduler.asyncio_scheduler import AsyncioScheduler
from minibot.adapters.tasks.storage.file_task_store import FileTaskStore
from minibot.app.approvals.approval_buttons import ApprovalButtons
from minibot.app.approvals.approval_desk import ApprovalDesk
from minibot.app.basic_commands import BasicCommands
from minibot.app.commands import CommandRouter
from minibot.app.conversation_service import ConversationService, TurnSettings
from minibot.app.daemon import Daemon, ServiceSpec
from minibot.app.dispatcher import Dispatcher
from minibot.app.event_bus import EventBus
from minibot.app.memory_commands import MemoryCommands
from minibot.app.reply_router import ReplyRouter
from minibot.app.tasks.scheduler_service import SchedulerService
from minibot.app.tasks.strategies import PromptStrategy, ReminderStrategy
from minibot.app.tasks.task_commands import TaskCommands
from minibot.app.tasks.task_runner import RetryPolicy, TaskRunner
from minibot.app.tasks.task_service import TaskLimits, TaskService
from minibot.app.tools.note_tools import NoteTools
from minibot.app.tools.registry import ToolRegistry
from minibot.app.tools.task_tools import TaskTools
from minibot.core.commands import Command, ShowDraft, ShowTyping
from minibot.core.events import Event
from minibot.core.identity import OwnerResolver
from minibot.core.jobs import ActionKind
from minibot.core.ports.bus import Bus
from minibot.shared.clock import SystemClock

Mode = Literal["daemon", "console"]


log = logging.getLogger(__name__)


@dataclass
class _Named:
    """Gives a storage adapter the name the daemon logs it by."""

    name: str
    inner: Any

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    def __getattr__(self, attr: str) -> Any:
        # The daemon looks for `run` (a supervised loop) and `health`: forward them when
        # the adapter has them, and only then, so it sees exactly what the adapter offers.
        if attr in ("run", "health"):
            return getattr(self.inner, attr)
        raise AttributeError(attr)


@dataclass
class Container:
    """Builds the whole application from `settings`. In console mode the console is the
    only channel (for trying minibot without Telegram); otherwise the enabled channels."""

    settings: Settings
    mode: Mode = "daemon"
    stdin: TextIO | None = None
    stdout: TextIO | None = None
    channels: list[Any] = field(default_factory=list)

    def secrets(self) -> list[str]:
        s = self.settings
        return [
            s.llm.api_key.get_secret_value(),
            s.channels.telegram.bot_token.get_secret_value(),
            s.channels.telegram.secret_token.get_secret_value(),
        ]

    def build(self) -> Daemon:
        s = self.settings
        clock = SystemClock()
        database = SqlDatabase(s.memory.url)
        memory = SqlConversationMemory(database)
        usage = SqlUsageLedger(database)
        model = LlmAsyncModel(s.llm)
        bus = EventBus(s.bus.queue_size)
        tools = ToolRegistry(timeout_seconds=s.llm.tool_timeout_seconds)
        storage = [ServiceSpec(_Named("database", database), critical=True)]
        storage.append(ServiceSpec(self._retention(database, usage, clock)))
        commands = CommandRouter()
        BasicCommands(
            memory=memory, usage=usage, clock=clock, tool_names=lambda: tools.names
        ).register(commands)
        if s.kv_memory.enabled:
            notes_db = SqlDatabase(s.kv_memory.url) if s.kv_memory.url else database
            if notes_db is not database:
                storage.append(ServiceSpec(_Named("notes-database", notes_db), critical=True))
            notes = SqlNoteStore(notes_db)
            kv = s.kv_memory
            note_tools = NoteTools(
                notes,
                default_limit=kv.default_limit,
                max_limit=kv.max_limit,
                max_title_chars=kv.max_title_chars,
                max_content_chars=kv.max_content_chars,
                now=clock.now,
            )
            for tool in note_tools.tools():
                tools.add(tool)
            MemoryCommands(notes).register(commands)
        approvals = ApprovalDesk(
            SqlApprovalStore(database),
            clock,
            bus.publish,
            timeout_seconds=s.llm.tool_approval_timeout_seconds,
        )
        turn_settings = TurnSettings(
            system_prompt=s.llm.system_prompt,
            history_window=s.llm.history_window,
            history_token_budget=s.llm.history_token_budget,
            max_tool_iterations=s.llm.max_tool_iterations,
            stream=s.llm.stream,
        )

        def turns(settings: TurnSettings, publish: Any) -> ConversationService:
            return ConversationService(
                memory=memory,
                model=model,
                usage=usage,
                tools=tools,
                publish=publish,
                clock=clock,
                settings=settings,
                price=functools.partial(cost_usd, s.llm.prices),
                approvals=approvals,
            )

        conversation = turns(turn_settings, bus.publish)
        task_specs: tuple[list[ServiceSpec], list[ServiceSpec]] = ([], [])
        if s.scheduler.enabled:
            # Scheduled prompts do not stream and show no typing: their answer arrives as
            # one message keyed for idempotency, or not at all (notify = never).
            async def quiet(message: Event | Command) -> None:
                if not isinstance(message, (ShowDraft, ShowTyping)):
                    await bus.publish(message)

            scheduled_turns = turns(dataclasses.replace(turn_settings, stream=False), quiet)
            task_specs = self._scheduler(bus, clock, scheduled_turns, tools, commands)
        approval_buttons = ApprovalButtons(approvals, conversation)
        approval_buttons.register(commands)
        cap = s.daemon.max_concurrent_conversations
        dispatcher = Dispatcher(
            bus=bus,
            conversation=conversation,
            commands=commands,
            owners=OwnerResolver(s.kv_memory.identities),
            max_concurrent=cap,
            max_pending=cap * 4,
            approvals=approval_buttons,
        )
        channel_specs = self._channels(bus, database, commands)
        router = ReplyRouter(bus, [spec.service for spec in channel_specs], max_concurrent=cap)
        specs = [
            *storage,
            ServiceSpec(_Named("llm", model), critical=True),
            ServiceSpec(bus, critical=True),
            ServiceSpec(router, critical=True),
            ServiceSpec(dispatcher, critical=True),
            *task_specs[0],
            # Channels start last: a channel re-publishes its pending inbox at start,
            # so everything downstream must already be running. Only the scheduler
            # comes after them, as what it fires must reach a started channel.
            *channel_specs,
            *task_specs[1],
            # Expiries are answered through a channel, so the desk starts after them.
            ServiceSpec(approvals, critical=True),
        ]
        d = s.daemon
        return Daemon(
            specs,
            shutdown_timeout_seconds=d.shutdown_timeout_seconds,
            restart_initial_delay_seconds=d.restart_initial_delay_seconds,
            restart_max_delay_seconds=d.restart_max_delay_seconds,
            max_restarts=d.max_restarts,
        )

    def _retention(
        self, database: SqlDatabase, usage: SqlUsageLedger, clock: SystemClock
    ) -> StorageRetention:
        m = self.settings.memory
        return StorageRetention(
            database,
            SqlInbox(database),
            SqlDeliveryLedger(database),
            usage,
            retention_days=m.retention_days,
            interval_seconds=m.prune_interval_seconds,
            now=clock.now,
        )

    def _scheduler(
        self,
        bus: Bus,
        clock: SystemClock,
        scheduled_turns: ConversationService,
        tools: ToolRegistry,
        commands: CommandRouter,
    ) -> tuple[list[ServiceSpec], list[ServiceSpec]]:
        """The task store, scheduler and task service, with their commands and tools;
        returns the services to start before the channels and after them."""
        sch = self.settings.scheduler
        store = FileTaskStore(
            sch.store_path,
            default_timezone=sch.timezone,
            compact_after_records=sch.compact_after_records,
        )
        runner = TaskRunner(
            store,
            {
                ActionKind.REMINDER: ReminderStrategy(bus.publish),
                ActionKind.PROMPT: PromptStrategy(scheduled_turns, bus.publish),
            },
            bus.publish,
            clock,
            retry=RetryPolicy(sch.max_attempts, sch.retry_initial_delay_seconds),
            max_jobs_created_per_run=sch.max_jobs_created_per_run,
        )
        scheduler = AsyncioScheduler(
            store,
            runner.fire,
            clock,
            stop_timeout_seconds=self.settings.daemon.shutdown_timeout_seconds / 2,
        )
        tasks = TaskService(
            store,
            scheduler,
            bus.publish,
            clock,
            TaskLimits(
                max_jobs_per_owner=sch.max_jobs_per_owner,
                max_jobs_created_per_run=sch.max_jobs_created_per_run,
                grace_window_seconds=sch.grace_window_seconds,
            ),
        )
        for tool in TaskTools(tasks).tools():
            tools.add(tool)
        TaskCommands(tasks).register(commands)
        return (
            [ServiceSpec(tasks, critical=True)],
            [ServiceSpec(SchedulerService(tasks, scheduler, bus.publish))],
        )

    def _channels(
        self, bus: Bus, database: SqlDatabase, commands: CommandRouter
    ) -> list[ServiceSpec]:
        s = self.settings
        if self.mode == "console":
            console = ConsoleChannel(
                bus,
                SqlInbox(database, sync_to_disk=s.memory.sync_before_confirm),
                SqlDeliveryLedger(database),
                user_id=s.channels.console.user_id,
                chat_id=s.channels.console.chat_id,
                answer_timeout_seconds=turn_deadline_seconds(s.llm),
                stdin=self.stdin,
                stdout=self.stdout,
            )
            return [ServiceSpec(console, critical=True, ends_daemon=True)]
        specs: list[ServiceSpec] = []
        if s.channels.telegram.enabled:
            from minibot.adapters.messaging.telegram import TelegramChannel

            telegram = TelegramChannel(
                s.channels.telegram,
                bus,
                SqlInbox(database, sync_to_disk=s.memory.sync_before_confirm),
                SqlDeliveryLedger(database),
                commands.commands,
            )
            specs.append(ServiceSpec(telegram, critical=False))
        if not specs:
            log.warning(
                "no channel is enabled: set [channels.telegram] enabled = true and a "
                "bot_token, or chat with `minibot console`"
            )
        return specs


def turn_deadline_seconds(llm: LLMSettings) -> float:
    """The longest one conversation turn can run: each of its model calls (the tool loop
    makes up to `max_tool_iterations` + 1) ends within the model's deadline, with a tool
    run between two of them."""
    calls = llm.max_tool_iterations + 1
    return calls * llm.total_deadline_seconds + llm.max_tool_iterations * llm.tool_timeout_seconds
