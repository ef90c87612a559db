"""The composition root: reads the settings, builds every adapter, wires the services."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from minibot.adapters.config.schema import LLMSettings, Settings
from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.llm.llm_async_model import LlmAsyncModel
from minibot.adapters.llm.pricing import cost_usd
from minibot.adapters.messaging.console.console_channel import ConsoleChannel
from minibot.adapters.scheduler.asyncio_scheduler import AsyncioScheduler
from minibot.adapters.sql.approval_store import SqlApprovalStore
from minibot.adapters.sql.conversation_memory import SqlConversationMemory
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.delivery_ledger import SqlDeliveryLedger
from minibot.adapters.sql.inbox import SqlInbox
from minibot.adapters.sql.job_leases import JobLeaseKeeper
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.adapters.sql.note_store import SqlNoteStore
from minibot.adapters.sql.retention import StorageRetention
from minibot.adapters.sql.usage_ledger import SqlUsageLedger
from minibot.app.approvals.approval_buttons import ApprovalButtons
from minibot.app.approvals.approval_desk import ApprovalDesk
from minibot.app.basic_commands import BasicCommands
from minibot.app.commands import CommandRouter
from minibot.app.conversation_service import ConversationService, TurnSettings
from minibot.app.daemon import Daemon, ServiceSpec
from minibot.app.dispatcher import Dispatcher
from minibot.app.event_bus import EventBus
from minibot.app.jobs.job_commands import JobCommands
from minibot.app.jobs.job_runner import JobRunner, RetryPolicy
from minibot.app.jobs.job_service import JobLimits, JobService
from minibot.app.jobs.scheduler_service import SchedulerService
from minibot.app.jobs.strategies import PromptStrategy, ReminderStrategy
from minibot.app.memory_commands import MemoryCommands
from minibot.app.reply_router import ReplyRouter
from minibot.app.tools.job_tools import JobTools
from minibot.app.tools.note_tools import NoteTools
from minibot.app.tools.registry import ToolRegistry
from minibot.core.commands import Command, ShowDraft, ShowTyping
from minibot.core.events import Event
from minibot.core.identity import OwnerResolver
from minibot.core.jobs import ActionKind
from minibot.core.ports.bus import Bus, Publish
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
class _Storage:
    """The main database, the stores every turn uses, and the storage services to start
    first (the notes may add their own database)."""

    database: SqlDatabase
    memory: SqlConversationMemory
    usage: SqlUsageLedger
    specs: list[ServiceSpec]


_Turns = Callable[[TurnSettings, Publish], ConversationService]


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
            s.channels.slack.bot_token.get_secret_value(),
            s.channels.slack.signing_secret.get_secret_value(),
            s.channels.slack.app_token.get_secret_value(),
            s.bus.url.get_secret_value(),
            s.redis.url.get_secret_value(),
        ]

    def build(self) -> Daemon:
        s = self.settings
        clock = SystemClock()
        bus = self._bus()
        storage = self._storage(clock)
        model = LlmAsyncModel(s.llm)
        tools, commands = self._tools_and_commands(storage, clock)
        approvals = ApprovalDesk(
            SqlApprovalStore(storage.database),
            clock,
            bus.publish,
            timeout_seconds=s.llm.tool_approval_timeout_seconds,
        )
        turns = self._turns(storage, model, tools, clock, approvals)
        conversation = turns(self._turn_settings(), bus.publish)
        task_specs: tuple[list[ServiceSpec], list[ServiceSpec]] = ([], [])
        if s.scheduler.enabled:
            task_specs = self._scheduler(
                bus, clock, self._scheduled_turns(bus, turns), tools, commands, storage
            )
        approval_buttons = ApprovalButtons(approvals, conversation)
        approval_buttons.register(commands)
        dispatcher = self._dispatcher(bus, conversation, commands, approval_buttons)
        channel_specs = self._channels(bus, storage.database, commands)
        router = ReplyRouter(
            bus,
            [spec.service for spec in channel_specs],
            max_concurrent=s.daemon.max_concurrent_conversations,
        )
        return self._daemon(
            [
                *storage.specs,
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
        )

    def _bus(self) -> EventBus | Any:
        """The in-process bus, or RabbitMQ between replicas (aio-pika loaded only then)."""
        b = self.settings.bus
        if b.backend == "memory":
            return EventBus(b.queue_size)
        from minibot.adapters.bus.rabbitmq_bus import RabbitMqBus
        from minibot.core.envelope import EnvelopeCodec
        from minibot.core.vocabulary import payload_types

        return RabbitMqBus(
            url=b.url.get_secret_value(),
            partitions=b.partitions,
            namespace=b.namespace,
            codec=EnvelopeCodec(payload_types()),
            heartbeat_seconds=b.heartbeat_seconds,
            prefetch=b.prefetch,
            drain_timeout_seconds=self.settings.daemon.shutdown_timeout_seconds / 2,
        )

    def _storage(self, clock: SystemClock) -> _Storage:
        database = SqlDatabase(
            self.settings.memory.url, auto_migrate=self.settings.memory.auto_migrate
        )
        usage = SqlUsageLedger(database)
        return _Storage(
            database,
            SqlConversationMemory(database),
            usage,
            [
                ServiceSpec(_Named("database", database), critical=True),
                ServiceSpec(self._retention(database, usage, clock)),
            ],
        )

    def _tools_and_commands(
        self, storage: _Storage, clock: SystemClock
    ) -> tuple[ToolRegistry, CommandRouter]:
        """The tool registry and command router with the basic commands and the notes';
        the scheduler's and the approval buttons' are added as those are built."""
        tools = ToolRegistry(timeout_seconds=self.settings.llm.tool_timeout_seconds)
        commands = CommandRouter()
        BasicCommands(
            memory=storage.memory, usage=storage.usage, clock=clock, tool_names=lambda: tools.names
        ).register(commands)
        if self.settings.kv_memory.enabled:
            self._notes(storage, clock, tools, commands)
        return tools, commands

    def _notes(
        self, storage: _Storage, clock: SystemClock, tools: ToolRegistry, commands: CommandRouter
    ) -> None:
        """The note store (in its own database when one is configured), its tools and
        commands."""
        kv = self.settings.kv_memory
        notes_db = (
            SqlDatabase(kv.url, auto_migrate=self.settings.memory.auto_migrate)
            if kv.url
            else storage.database
        )
        if notes_db is not storage.database:
            storage.specs.append(ServiceSpec(_Named("notes-database", notes_db), critical=True))
        notes = SqlNoteStore(notes_db)
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

    def _turn_settings(self) -> TurnSettings:
        llm = self.settings.llm
        return TurnSettings(
            system_prompt=llm.system_prompt,
            history_window=llm.history_window,
            history_token_budget=llm.history_token_budget,
            max_tool_iterations=llm.max_tool_iterations,
            stream=llm.stream,
        )

    def _turns(
        self,
        storage: _Storage,
        model: LlmAsyncModel,
        tools: ToolRegistry,
        clock: SystemClock,
        approvals: ApprovalDesk,
    ) -> _Turns:
        """Builds conversation turns over the same stores, tools and model; the chat's
        and the scheduler's differ in settings and where they publish."""
        price = functools.partial(cost_usd, self.settings.llm.prices)

        def turns(settings: TurnSettings, publish: Publish) -> ConversationService:
            return ConversationService(
                memory=storage.memory,
                model=model,
                usage=storage.usage,
                tools=tools,
                publish=publish,
                clock=clock,
                settings=settings,
                price=price,
                approvals=approvals,
            )

        return turns

    def _scheduled_turns(self, bus: Bus, turns: _Turns) -> ConversationService:
        # Scheduled prompts do not stream and show no typing: their answer arrives as
        # one message keyed for idempotency, or not at all (notify = never).
        async def quiet(message: Event | Command) -> None:
            if not isinstance(message, (ShowDraft, ShowTyping)):
                await bus.publish(message)

        return turns(dataclasses.replace(self._turn_settings(), stream=False), quiet)

    def _dispatcher(
        self,
        bus: Bus,
        conversation: ConversationService,
        commands: CommandRouter,
        approval_buttons: ApprovalButtons,
    ) -> Dispatcher:
        s = self.settings
        cap = s.daemon.max_concurrent_conversations
        return Dispatcher(
            bus=bus,
            conversation=conversation,
            commands=commands,
            owners=OwnerResolver(s.kv_memory.identities),
            max_concurrent=cap,
            max_pending=cap * 4,
            approvals=approval_buttons,
        )

    def _daemon(self, specs: list[ServiceSpec]) -> Daemon:
        d = self.settings.daemon
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
        storage: _Storage,
    ) -> tuple[list[ServiceSpec], list[ServiceSpec]]:
        """The job store, scheduler and job service, with their commands and tools;
        returns the services to start before the channels and after them."""
        sch = self.settings.scheduler
        store, leases = self._job_store(storage, clock)
        runner = JobRunner(
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
            # Replicas: jobs made by another replica (or one that died) are found here too.
            refresh_seconds=sch.refresh_seconds
            if self.settings.bus.backend == "rabbitmq"
            else None,
        )
        jobs = JobService(
            store,
            scheduler,
            bus.publish,
            clock,
            JobLimits(
                max_jobs_per_owner=sch.max_jobs_per_owner,
                max_jobs_created_per_run=sch.max_jobs_created_per_run,
                grace_window_seconds=sch.grace_window_seconds,
            ),
        )
        store_specs = []
        if leases is not None:
            leases.schedule = scheduler.schedule  # lapsed claims go back to this scheduler
            store_specs.append(ServiceSpec(leases))
        for tool in JobTools(jobs).tools():
            tools.add(tool)
        JobCommands(jobs).register(commands)
        return (
            [ServiceSpec(jobs, critical=True), *store_specs],
            [ServiceSpec(SchedulerService(jobs, scheduler, bus.publish))],
        )

    def _job_store(
        self, storage: _Storage, clock: SystemClock
    ) -> tuple[FileJobStore | SqlJobStore, JobLeaseKeeper | None]:
        """The configured job store, and for SQL the service keeping its claims (and its
        own database when `url` names one, started with the other databases)."""
        sch = self.settings.scheduler
        if sch.store == "file":
            store = FileJobStore(
                sch.store_path,
                default_timezone=sch.timezone,
                compact_after_records=sch.compact_after_records,
            )
            return store, None
        database = SqlDatabase(sch.url) if sch.url else storage.database
        if database is not storage.database:
            storage.specs.append(ServiceSpec(_Named("jobs-database", database), critical=True))
        sql_store = SqlJobStore(
            database, default_timezone=sch.timezone, lease_seconds=sch.lease_seconds
        )
        return sql_store, JobLeaseKeeper(sql_store, clock.now)

    def _poller_leadership(self) -> Any:
        """With replicas (RabbitMQ), the lock electing the one Telegram poller; else None.
        Webhook mode needs none: every replica may receive, the inbox drops duplicates."""
        s = self.settings
        if s.bus.backend != "rabbitmq" or s.channels.telegram.mode != "long_polling":
            return None
        from minibot.adapters.sql.poller_leadership import (
            PostgresLeadership,
            asyncpg_dsn,
            lock_key,
        )

        bot_id = s.channels.telegram.bot_token.get_secret_value().split(":")[0]
        return PostgresLeadership(
            asyncpg_dsn(s.memory.url),
            lock_key(f"telegram-poller:{bot_id}"),
            timeout_seconds=s.channels.telegram.leader_timeout_seconds,
        )

    def _send_limits(self, specs: list[ServiceSpec]) -> Any:
        """With `[redis] url`, Telegram's flood limits shared by every replica (started
        before the channel); else None: one process keeps its own 429 pauses."""
        s = self.settings
        url = s.redis.url.get_secret_value()
        if not url:
            return None
        from minibot.adapters.redis.redis_send_limits import RedisSendLimits

        limits = RedisSendLimits(
            url,
            prefix=s.bus.namespace,
            max_sends_per_second=s.channels.telegram.max_sends_per_second,
        )
        specs.append(ServiceSpec(limits))
        return limits

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
                leadership=self._poller_leadership(),
                send_limits=self._send_limits(specs),
            )
            specs.append(ServiceSpec(telegram, critical=False))
        if s.channels.slack.enabled:
            from minibot.adapters.messaging.slack import SlackChannel

            slack = SlackChannel(
                s.channels.slack,
                bus,
                SqlInbox(database, sync_to_disk=s.memory.sync_before_confirm),
                SqlDeliveryLedger(database),
            )
            specs.append(ServiceSpec(slack, critical=False))
        if not specs:
            log.warning(
                "no channel is enabled: set [channels.telegram] or [channels.slack] "
                "enabled = true with its tokens, or chat with `minibot console`"
            )
        return specs


def turn_deadline_seconds(llm: LLMSettings) -> float:
    """The longest one conversation turn can run: each of its model calls (the tool loop
    makes up to `max_tool_iterations` + 1) ends within the model's deadline, with a tool
    run between two of them."""
    calls = llm.max_tool_iterations + 1
    return calls * llm.total_deadline_seconds + llm.max_tool_iterations * llm.tool_timeout_seconds
