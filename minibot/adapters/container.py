"""The composition root: reads the settings, builds every adapter, wires the services."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TextIO

from pydantic import SecretStr

from minibot.adapters.config.schema import (
    DEFAULT_MODEL_ALIAS,
    CodeToolSettings,
    LLMSettings,
    Settings,
    ToolsSettings,
)
from minibot.adapters.files.file_job_store import FileJobStore
from minibot.adapters.llm.llm_async_model import LlmAsyncModel
from minibot.adapters.llm.pricing import price_list, quantity_cost_usd
from minibot.adapters.media.document_text import LibraryDocumentReader
from minibot.adapters.media.kept_files import KeptFiles
from minibot.adapters.media.openai_media import (
    Endpoint,
    OpenAiImages,
    OpenAiSpeech,
    OpenAiTranscriber,
)
from minibot.adapters.messaging.console.console_channel import ConsoleChannel
from minibot.adapters.scheduler.asyncio_scheduler import AsyncioScheduler
from minibot.adapters.sql.approval_store import SqlApprovalStore
from minibot.adapters.sql.conversation_memory import SqlConversationMemory
from minibot.adapters.sql.conversation_settings_store import SqlConversationSettingsStore
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.delivery_ledger import DeliveryClaims, SqlDeliveryLedger
from minibot.adapters.sql.inbox import SqlInbox
from minibot.adapters.sql.job_leases import JobLeaseKeeper
from minibot.adapters.sql.job_store import SqlJobStore
from minibot.adapters.sql.note_store import SqlNoteStore
from minibot.adapters.sql.retention import StorageRetention
from minibot.adapters.sql.usage_ledger import SqlUsageLedger
from minibot.adapters.sql.voice_preferences import SqlVoicePreferences
from minibot.adapters.sql.workflow_store import SqlWorkflowStore
from minibot.app.alert_hook import AlertHook, AlertSender, chat_sender
from minibot.app.approvals.approval_buttons import ApprovalButtons
from minibot.app.approvals.approval_desk import ApprovalDesk
from minibot.app.basic_commands import BasicCommands
from minibot.app.budget_guard import BudgetGuard
from minibot.app.commands import CommandRouter
from minibot.app.conversation_commands import ConversationCommands
from minibot.app.conversation_service import ConversationService, TurnSettings
from minibot.app.daemon import Daemon, DaemonHealth, ServiceSpec
from minibot.app.dispatcher import Dispatcher, TurnHandler
from minibot.app.event_bus import EventBus
from minibot.app.jobs.job_commands import JobCommands
from minibot.app.jobs.job_runner import JobRunner, RetryPolicy
from minibot.app.jobs.job_service import JobLimits, JobService
from minibot.app.jobs.prompt_cost import PromptCostEstimate
from minibot.app.jobs.scheduler_service import SchedulerService
from minibot.app.jobs.strategies import PromptStrategy, ReminderStrategy
from minibot.app.media.media_budget import MediaBudget
from minibot.app.media.media_reader import MediaLimits, MediaReader
from minibot.app.media.media_turns import MediaTurns, VoiceSettings
from minibot.app.media.media_usage import MediaUsage
from minibot.app.media.voice_commands import VoiceCommands
from minibot.app.memory_commands import MemoryCommands
from minibot.app.model_lineup import ModelLineup, ModelOption
from minibot.app.reply_router import ReplyRouter
from minibot.app.tools.code_offer import CodeToolOffer
from minibot.app.tools.image_tools import ImageTools
from minibot.app.tools.job_tools import JobTools
from minibot.app.tools.note_tools import NoteTools
from minibot.app.tools.registry import ToolRegistry
from minibot.app.tools.web_tools import WebTools
from minibot.app.tools.workflow_tools import WorkflowTools
from minibot.app.workflows.workflow_catalog import WorkflowCatalog
from minibot.app.workflows.workflow_commands import WorkflowCommands
from minibot.app.workflows.workflow_runner import WorkflowRunner
from minibot.app.workflows.workflow_strategy import WorkflowStrategy
from minibot.core.alerting import AlertRules
from minibot.core.budgets import BudgetLimits, BudgetPolicy
from minibot.core.commands import Command, ShowDraft, ShowTyping
from minibot.core.conversation import ConversationKey
from minibot.core.conversation_settings import BusyPolicy
from minibot.core.events import Event
from minibot.core.identity import OwnerResolver
from minibot.core.jobs import ActionKind
from minibot.core.llm import TokenUsage
from minibot.core.ports.bus import Bus, Publish
from minibot.core.ports.code_sandbox import CodeSandbox
from minibot.core.ports.host_resolver import HostResolver
from minibot.core.ports.media import MediaSource
from minibot.core.ports.tracer import Tracer
from minibot.core.ports.usage_ledger import UsageLedger
from minibot.core.ports.web_reader import SearchProvider
from minibot.core.sandbox import SandboxLimits
from minibot.core.tokens import estimate_tokens
from minibot.core.tool_permissions import PermissionLevel, ToolPermissions
from minibot.core.tracing import NO_TRACER
from minibot.core.usage import UsageKind
from minibot.core.web import WebRules
from minibot.core.workflows import Workflow, steps_from_fields
from minibot.shared.clock import SystemClock

if TYPE_CHECKING:
    from minibot.adapters.observability.metrics import Metrics
    from minibot.adapters.observability.metrics_service import MetricsService

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
    conversation_settings: SqlConversationSettingsStore
    # What the turns write usage to: the ledger, counted when metrics are on.
    turn_usage: UsageLedger | None = None


_Turns = Callable[[TurnSettings, Publish], ConversationService]


@dataclass
class _Media:
    """What `[media]` adds: the turns around the conversation (None when off), the
    services to start and stop (the HTTP clients), and each channel's downloads."""

    turns: MediaTurns | None = None
    specs: list[ServiceSpec] = field(default_factory=list)
    sources: dict[str, MediaSource] = field(default_factory=dict)


@dataclass
class Container:
    """Builds the whole application from `settings`. In console mode the console is the
    only channel (for trying minibot without Telegram); otherwise the enabled channels."""

    settings: Settings
    mode: Mode = "daemon"
    stdin: TextIO | None = None
    stdout: TextIO | None = None
    channels: list[Any] = field(default_factory=list)
    # Built by `build` when [metrics] is on: the series, and what serves them.
    metrics: Metrics | None = None
    metrics_service: MetricsService | None = None
    tracer: Tracer = NO_TRACER

    def render_metrics(self) -> tuple[bytes, str]:
        """The /metrics body and its content type (for the control plane to serve)."""
        if self.metrics is None:
            raise RuntimeError("metrics are off: set [metrics] enabled = true")
        return self.metrics.render()

    # Built along the way, for the control plane (None when their feature is off).
    _jobs: JobService | None = field(default=None, init=False, repr=False)
    _mcp_servers: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _notes_store: SqlNoteStore | None = field(default=None, init=False, repr=False)
    _delivery_claims: DeliveryClaims | None = field(default=None, init=False, repr=False)

    def secrets(self) -> list[str]:
        s = self.settings
        return [
            s.llm.api_key.get_secret_value(),
            *(named.api_key.get_secret_value() for named in s.llm.models.values()),
            s.channels.telegram.bot_token.get_secret_value(),
            s.channels.telegram.secret_token.get_secret_value(),
            s.channels.slack.bot_token.get_secret_value(),
            s.channels.slack.signing_secret.get_secret_value(),
            s.channels.slack.app_token.get_secret_value(),
            s.alerts.webhook_url.get_secret_value(),
            s.tools.search.api_key.get_secret_value(),
            s.media.transcription_api_key.get_secret_value(),
            s.media.tts_api_key.get_secret_value(),
            s.media.image_api_key.get_secret_value(),
            s.control_plane.token.get_secret_value(),
            s.bus.url.get_secret_value(),
            s.redis.url.get_secret_value(),
            # An MCP server's env and headers may carry tokens (through ${VAR}).
            *(
                value.get_secret_value()
                for server in s.mcp.servers.values()
                for value in (*server.env.values(), *server.headers.values())
            ),
        ]

    def build(self) -> Daemon:
        s = self.settings
        clock = SystemClock()
        bus = self._bus()
        observability = self._observability(bus, clock)
        storage = self._storage(clock)
        if self.metrics is not None:
            from minibot.adapters.observability.metered_usage import MeteredUsageLedger

            storage.turn_usage = MeteredUsageLedger(storage.usage, self.metrics)
        lineup = self._lineup()
        budget = self._budget(storage, clock)
        tools, commands = self._tools_and_commands(storage, clock, budget)
        mcp_specs = self._mcp(storage, tools, commands, bus, clock)
        approvals = ApprovalDesk(
            SqlApprovalStore(storage.database),
            clock,
            bus.publish,
            timeout_seconds=s.llm.tool_approval_timeout_seconds,
        )
        turns = self._turns(storage, lineup, tools, clock, approvals, budget)
        conversation = turns(self._turn_settings(), bus.publish)
        ConversationCommands(
            conversation=conversation,
            settings=storage.conversation_settings,
            default_busy_policy=BusyPolicy(s.daemon.busy_policy),
        ).register(commands)
        media = self._media(storage, clock, bus, tools, commands, conversation, budget)
        task_specs: tuple[list[ServiceSpec], list[ServiceSpec]] = ([], [])
        if s.scheduler.enabled:
            workflows = WorkflowRunner(
                tools=tools, model=lineup.default.model, publish=bus.publish, approvals=approvals
            )
            task_specs = self._scheduler(
                bus, clock, self._scheduled_turns(bus, turns), workflows, tools, commands, storage
            )
        approval_buttons = ApprovalButtons(approvals, conversation)
        approval_buttons.register(commands)
        dispatcher = self._dispatcher(
            bus,
            media.turns or conversation,
            commands,
            approval_buttons,
            storage.conversation_settings,
        )
        channel_specs = self._channels(bus, storage.database, commands, media.sources)
        channels: list[Any] = [spec.service for spec in channel_specs]
        control_specs: list[ServiceSpec] = []
        daemon_cell: list[Daemon] = []
        if s.control_plane.enabled and self.mode == "daemon":
            control_specs, channels = self._control_plane(
                bus, storage, channels, lambda: daemon_cell[0].health, media.sources
            )
        router = ReplyRouter(bus, channels, max_concurrent=s.daemon.max_concurrent_conversations)
        alerts = self._alerts(bus)
        if self.metrics is not None:
            self.metrics_service = self._metrics_service(storage.database)
            observability.append(ServiceSpec(self.metrics_service))
        daemon = self._daemon(
            [
                # Tracing first: the first span may be opened by the first service.
                *observability,
                *storage.specs,
                ServiceSpec(_Named("llm", lineup), critical=True),
                *media.specs,
                ServiceSpec(bus, critical=True),
                ServiceSpec(router, critical=True),
                ServiceSpec(dispatcher, critical=True),
                # run_code joins the tools (or not) before any message can arrive.
                *self._code_tool(tools),
                # MCP servers' sessions, each owned by its link's task (never critical:
                # a server down is reported to the model and reconnected).
                *mcp_specs,
                *task_specs[0],
                # Channels start last: a channel re-publishes its pending inbox at start,
                # so everything downstream must already be running. Only the scheduler
                # comes after them, as what it fires must reach a started channel.
                *channel_specs,
                *control_specs,
                *task_specs[1],
                # Expiries are answered through a channel, so the desk starts after them.
                ServiceSpec(approvals, critical=True),
                *alerts,
            ]
        )
        daemon_cell.append(daemon)
        self._watch_health(daemon, alerts)
        return daemon

    def _observability(self, bus: Bus, clock: SystemClock) -> list[ServiceSpec]:
        """The tracer and the metrics' series (each only when enabled: their libraries
        are imported only then), subscribed to the bus."""
        s = self.settings
        specs: list[ServiceSpec] = []
        if s.tracing.enabled:
            from minibot.adapters.observability.otel_tracer import OtelTracer

            tracer = OtelTracer(s.tracing)
            self.tracer = tracer
            specs.append(ServiceSpec(tracer))
        if s.metrics.enabled:
            from minibot.adapters.observability.metrics import Metrics

            models = [s.llm.model, *(named.model for named in s.llm.models.values())]
            self.metrics = Metrics(clock.now, channels=self._channel_names(), models=models)
            self.metrics.subscribe(bus)
        return specs

    def _metrics_service(self, database: SqlDatabase) -> MetricsService:
        from minibot.adapters.observability.metrics_service import MetricsService

        m = self.settings.metrics
        assert self.metrics is not None
        # The control plane serves /metrics when it is on; else a listener of their own.
        standalone = not self.settings.control_plane.enabled
        return MetricsService(
            self.metrics,
            inbox=SqlInbox(database),
            channels=self._channel_names(),
            poll_seconds=m.inbox_poll_seconds,
            listen=(m.listen_host, m.listen_port) if standalone else None,
        )

    def _channel_names(self) -> list[str]:
        if self.mode == "console":
            return ["console"]
        c = self.settings.channels
        names = [name for name, on in (("telegram", c.telegram), ("slack", c.slack)) if on.enabled]
        return [*names, "web"] if self.settings.control_plane.enabled else names

    def _alerts(self, bus: Bus) -> list[ServiceSpec]:
        a = self.settings.alerts
        if not a.enabled:
            return []
        specs: list[ServiceSpec] = []
        senders: list[AlertSender] = []
        if a.telegram_chat_id is not None:
            senders.append(
                chat_sender(bus.publish, ConversationKey("telegram", str(a.telegram_chat_id)))
            )
        if a.webhook_url.get_secret_value():
            from minibot.adapters.observability.webhook_alerts import WebhookAlertSender

            webhook = WebhookAlertSender(
                a.webhook_url.get_secret_value(), timeout_seconds=a.webhook_timeout_seconds
            )
            specs.append(ServiceSpec(webhook))
            senders.append(webhook)
        rules = AlertRules(model_failures=a.model_failures, window_seconds=a.window_seconds)
        hook = AlertHook(bus, rules, senders, health_check_seconds=a.health_check_seconds)
        return [*specs, ServiceSpec(hook)]

    def _watch_health(self, daemon: Daemon, alerts: list[ServiceSpec]) -> None:
        if self.metrics is not None:
            self.metrics.watch_health(
                lambda: {name: h.state for name, h in daemon.health.services.items()}
            )
        for spec in alerts:
            if isinstance(spec.service, AlertHook):
                spec.service.services_health = lambda: daemon.health.services

    def _control_plane(
        self,
        bus: Bus,
        storage: _Storage,
        channels: list[Any],
        health: Callable[[], DaemonHealth],
        sources: dict[str, MediaSource],
    ) -> tuple[list[ServiceSpec], list[Any]]:
        """The web channel and the control plane (imported only when enabled), and the
        channels the reply router delivers through, each one's replies reported to the
        live feed. With media on, the web chat takes files (its `MediaSource`)."""
        from minibot.adapters.http.control_plane.api_intake import ApiIntake
        from minibot.adapters.http.control_plane.deps import ControlPlaneDeps, no_metrics
        from minibot.adapters.http.control_plane.server import ControlPlane
        from minibot.adapters.messaging.web.web_channel import WebChannel
        from minibot.adapters.messaging.web.web_sender import Shown
        from minibot.adapters.messaging.web.web_uploads import WebUploads
        from minibot.adapters.sql.control_queries import SqlControlQueries
        from minibot.adapters.sql.session_store import SqlSessionStore
        from minibot.app.live.live_feed import LiveFeed
        from minibot.app.live.observed_channel import ObservedChannel
        from minibot.app.live.task_index import TaskIndex

        s = self.settings
        feed = LiveFeed()
        feed.subscribe_to(bus)
        tasks = None
        if self._jobs is not None:
            tasks = TaskIndex(self._jobs)
            tasks.subscribe_to(bus)

        def on_shown(shown: Shown) -> None:
            data = {"conversation": str(shown.conversation), "message_id": shown.message_id}
            if shown.draft:
                feed.emit("chat_draft", {**data, "turn_id": shown.turn_id}, shown.text)
            else:
                buttons = [{"label": b.label, "action": b.action} for b in shown.buttons]
                media = [
                    {"kind": m.kind.value, "url": m.url, "mime": m.mime_type} for m in shown.media
                ]
                feed.emit("chat_reply", {**data, "buttons": buttons, "media": media}, shown.text)

        inbox = SqlInbox(storage.database, sync_to_disk=s.memory.sync_before_confirm)
        web = WebChannel(
            bus,
            inbox,
            self._delivery_ledger(storage.database),
            user_id=s.control_plane.owner.partition(":")[2],
            on_shown=on_shown,
            uploads=WebUploads(s.control_plane.upload_path) if s.media.enabled else None,
        )
        if s.media.enabled:
            sources[web.name] = web
        deps = ControlPlaneDeps(
            feed=feed,
            owners=OwnerResolver(s.kv_memory.identities),
            health=health,
            queries=SqlControlQueries(storage.database),
            memory=storage.memory,
            notes=self._notes_store,
            jobs=self._jobs,
            tasks=tasks,
            web=web,
            said=ApiIntake(bus, inbox),
            channel_names=frozenset(channel.name for channel in [*channels, web]),
            sessions=SqlSessionStore(storage.database),
            now=SystemClock().now,
            settings=lambda: s.model_dump(mode="json"),
            default_timezone=s.scheduler.timezone,
            metrics=self.render_metrics if self.metrics is not None else no_metrics,
            max_upload_bytes=s.media.max_file_bytes if s.media.enabled else 0,
            mcp=self._mcp_servers,
        )
        control = ControlPlane(s.control_plane, deps)
        observed = [ObservedChannel(channel, feed) for channel in [*channels, web]]
        return [ServiceSpec(web), ServiceSpec(control)], observed

    def _delivery_ledger(self, database: SqlDatabase) -> SqlDeliveryLedger:
        """The ledger; between replicas it claims each chunk before a send, as this
        process's one owner (every ledger of the process shares it)."""
        b = self.settings.bus
        if b.backend != "rabbitmq":
            return SqlDeliveryLedger(database)
        if self._delivery_claims is None:
            self._delivery_claims = DeliveryClaims(lease_seconds=b.delivery_lease_seconds)
        return SqlDeliveryLedger(database, self._delivery_claims)

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
            defer_intake=True,
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
            SqlConversationSettingsStore(database),
        )

    def _lineup(self) -> ModelLineup:
        """The default model ([llm]), each [llm.models.<alias>] (with the rest of [llm]:
        timeouts, retries, streaming) and the fallback order. A model without a price is
        counted as the dearest known one: warned about here, so it is no surprise."""
        llm = self.settings.llm
        prices = price_list(llm)
        options = [
            ModelOption(
                DEFAULT_MODEL_ALIAS,
                LlmAsyncModel(llm, tracer=self.tracer, observer=self.metrics),
                prices.price(llm.model),
                priced=prices.known(llm.model),
                context_window=llm.context_window,
            )
        ]
        for alias, named in llm.models.items():
            same_provider = named.provider == llm.provider
            settings = llm.model_copy(
                update={
                    "provider": named.provider,
                    "model": named.model,
                    "base_url": named.base_url or (llm.base_url if same_provider else ""),
                    "api_key": (
                        named.api_key
                        if named.api_key.get_secret_value() or not same_provider
                        else llm.api_key
                    ),
                    "models": {},
                    "fallbacks": [],
                }
            )
            options.append(
                ModelOption(
                    alias,
                    LlmAsyncModel(settings, tracer=self.tracer, observer=self.metrics),
                    prices.price(named.model),
                    priced=prices.known(named.model),
                    context_window=named.context_window,
                    vision=named.vision,
                )
            )
        unpriced = [o.alias for o in options if not o.priced]
        b = self.settings.budgets
        limited = (b.daily_usd_per_owner, b.monthly_usd_per_owner, b.per_run_usd)
        budgets_on = any(v is not None for v in limited) or bool(b.owners)
        if unpriced and (llm.prices or llm.models or budgets_on):
            log.warning(
                "models without a price are counted as the most expensive known one",
                extra={"models": ",".join(unpriced)},
            )
        return ModelLineup(options, default_alias=DEFAULT_MODEL_ALIAS, fallbacks=llm.fallbacks)

    def _budget(self, storage: _Storage, clock: SystemClock) -> BudgetGuard | None:
        b = self.settings.budgets
        default = BudgetLimits(b.daily_usd_per_owner, b.monthly_usd_per_owner, b.per_run_usd)
        policy = BudgetPolicy(
            default,
            {
                owner: BudgetLimits(
                    own.daily_usd if own.daily_usd is not None else default.daily_usd,
                    own.monthly_usd if own.monthly_usd is not None else default.monthly_usd,
                    default.per_run_usd,
                )
                for owner, own in b.owners.items()
            },
            frozenset(b.exempt_owners),
        )
        if not policy.enabled:
            return None
        return BudgetGuard(
            usage=storage.usage,
            policy=policy,
            clock=clock,
            completion_tokens=self.settings.llm.max_tokens or b.assumed_completion_tokens,
        )

    def _tools_and_commands(
        self, storage: _Storage, clock: SystemClock, budget: BudgetGuard | None
    ) -> tuple[ToolRegistry, CommandRouter]:
        """The tool registry and command router with the basic commands and the notes';
        the scheduler's and the approval buttons' are added as those are built."""
        tools = ToolRegistry(
            timeout_seconds=self.settings.llm.tool_timeout_seconds,
            permissions=tool_permissions(self.settings.tools),
            max_output_chars=self.settings.tools.max_output_chars,
        )
        web = self.settings.tools
        if web.web.enabled or web.search.enabled:
            from minibot.adapters.web.system_resolver import SystemHostResolver

            for tool in web_tools(web, SystemHostResolver()).tools():
                tools.add(tool)
        commands = CommandRouter()
        BasicCommands(
            memory=storage.memory,
            usage=storage.usage,
            clock=clock,
            tool_names=lambda: tools.names,
            budget=budget,
            conversation_settings=storage.conversation_settings,
        ).register(commands)
        if self.settings.kv_memory.enabled:
            self._notes(storage, clock, tools, commands)
        return tools, commands

    def _mcp(
        self,
        storage: _Storage,
        tools: ToolRegistry,
        commands: CommandRouter,
        bus: Bus,
        clock: SystemClock,
    ) -> list[ServiceSpec]:
        """The MCP links (loaded only when servers are configured) and /mcp."""
        if not self.settings.mcp.servers:
            return []
        from minibot.adapters.mcp.wiring import mcp_servers, register_commands
        from minibot.adapters.sql.mcp_pin_store import SqlMcpPinStore

        servers = mcp_servers(
            self.settings,
            SqlMcpPinStore(storage.database),
            tools,
            bus.publish,
            clock.now,
            console=self.mode == "console",
        )
        register_commands(servers, commands)
        self._mcp_servers = dict(servers)
        return [ServiceSpec(server.link) for server in servers.values()]

    def owner_tools(self) -> tuple[ToolRegistry, list[Any]]:
        """The notes' and tasks' tools alone, over the configured stores, for `minibot
        mcp serve`, and the services to start first (the databases, the job store). No
        scheduler runs here: the daemon fires what is scheduled, once it reads it."""
        clock = SystemClock()
        storage = self._storage(clock)
        tools = ToolRegistry(
            timeout_seconds=self.settings.llm.tool_timeout_seconds,
            permissions=tool_permissions(self.settings.tools),
            max_output_chars=self.settings.tools.max_output_chars,
        )
        if self.settings.kv_memory.enabled:
            self._notes(storage, clock, tools, CommandRouter())
        store: FileJobStore | SqlJobStore | None = None
        if self.settings.scheduler.enabled:
            sch = self.settings.scheduler
            store, _leases = self._job_store(storage, clock)

            async def fired_elsewhere(*_: Any) -> None:
                return None

            async def quiet(message: Event | Command) -> None:
                return None

            jobs = JobService(
                store,
                AsyncioScheduler(store, fired_elsewhere, clock),
                quiet,
                clock,
                JobLimits(
                    max_jobs_per_owner=sch.max_jobs_per_owner,
                    max_jobs_created_per_run=sch.max_jobs_created_per_run,
                    grace_window_seconds=sch.grace_window_seconds,
                ),
            )
            for tool in JobTools(jobs, self._prompt_cost(), ()).tools():
                tools.add(tool)
        # The databases (the retention pass, the second spec, is the daemon's), then the store.
        services: list[Any] = [storage.specs[0].service]
        services += [spec.service for spec in storage.specs[2:]]
        return tools, [*services, *([store] if store is not None else [])]

    def _code_tool(self, tools: ToolRegistry) -> list[ServiceSpec]:
        if not self.settings.tools.code.enabled:
            return []
        code = self.settings.tools.code
        offer = CodeToolOffer(
            code_sandbox(code), tools, timeout_seconds=code.timeout_seconds + TOOL_MARGIN_SECONDS
        )
        return [ServiceSpec(offer)]

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
        self._notes_store = notes
        note_tools = NoteTools(
            notes,
            default_limit=kv.default_limit,
            max_limit=kv.max_limit,
            max_title_chars=kv.max_title_chars,
            max_content_chars=kv.max_content_chars,
            now=SystemClock().now,
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
            summarize=llm.history_overflow == "summarize",
            max_input_tokens=llm.max_input_tokens,
        )

    def _turns(
        self,
        storage: _Storage,
        lineup: ModelLineup,
        tools: ToolRegistry,
        clock: SystemClock,
        approvals: ApprovalDesk,
        budget: BudgetGuard | None,
    ) -> _Turns:
        """Builds conversation turns over the same stores, tools and models; the chat's
        and the scheduler's differ in settings and where they publish."""
        prices = price_list(self.settings.llm)

        def price(model: str, usage: TokenUsage) -> float:
            return prices.cost_usd(model, usage.prompt_tokens, usage.completion_tokens)

        def turns(settings: TurnSettings, publish: Publish) -> ConversationService:
            return ConversationService(
                memory=storage.memory,
                model=lineup.default.model,
                lineup=lineup,
                conversation_settings=storage.conversation_settings,
                budget=budget,
                usage=storage.turn_usage or storage.usage,
                tracer=self.tracer,
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

    def _media(
        self,
        storage: _Storage,
        clock: SystemClock,
        bus: Bus,
        tools: ToolRegistry,
        commands: CommandRouter,
        conversation: ConversationService,
        guard: BudgetGuard | None,
    ) -> _Media:
        """Voice, photos, documents and images (`[media]`): the turns that read what
        people send and speak answers, /voice, generate_image, and the channels'
        downloads (`sources`, filled as the channels are built)."""
        m, llm = self.settings.media, self.settings.llm
        media = _Media()
        if not m.enabled:
            return media

        def endpoint(base_url: str, key: SecretStr, model: str) -> Endpoint:
            return Endpoint(
                base_url or llm.base_url,
                key.get_secret_value() or llm.api_key.get_secret_value(),
                model,
                m.request_timeout_seconds,
            )

        transcriber = OpenAiTranscriber(
            endpoint(m.transcription_base_url, m.transcription_api_key, m.transcription_model)
        )
        speech = OpenAiSpeech(
            endpoint(m.tts_base_url, m.tts_api_key, m.tts_model), voice=m.tts_voice
        )
        images = OpenAiImages(
            endpoint(m.image_base_url, m.image_api_key, m.image_model), size=m.image_size
        )
        media.specs = [
            ServiceSpec(_Named(f"media-{client.service}", client))
            for client in (transcriber, speech, images)
        ]
        price = functools.partial(quantity_cost_usd, llm.prices)
        usage = MediaUsage(storage.usage, clock, price)
        # No budgets: no estimate, and a spoken answer does not wait for the usage rows.
        budget = None
        if guard is not None:
            models = {
                UsageKind.TRANSCRIPTION: transcriber.model,
                UsageKind.SPEECH: speech.model,
                UsageKind.IMAGE: images.model,
            }
            budget = MediaBudget(guard, price, models)
        voices = SqlVoicePreferences(storage.database)
        reader = MediaReader(
            sources=media.sources,
            transcriber=transcriber,
            documents=LibraryDocumentReader(),
            usage=usage,
            limits=MediaLimits(
                max_audio_seconds=m.max_audio_seconds,
                max_file_bytes=m.max_file_bytes,
                max_document_chars=m.max_document_chars,
                vision=llm.vision,
            ),
            keep=KeptFiles(m.keep_path).keep if m.keep else None,
            show_transcript=m.show_transcript,
            budget=budget,
        )
        media.turns = MediaTurns(
            conversation=conversation,
            reader=reader,
            voices=voices,
            speech=speech,
            usage=usage,
            publish=bus.publish,
            settings=VoiceSettings(voice_text_chars=m.voice_text_chars),
            budget=budget,
        )
        VoiceCommands(voices).register(commands)
        image_tools = ImageTools(
            images, bus.publish, usage, self._delivery_ledger(storage.database), budget
        )
        for tool in image_tools.tools():
            tools.add(tool)
        return media

    def _dispatcher(
        self,
        bus: Bus,
        conversation: TurnHandler,
        commands: CommandRouter,
        approval_buttons: ApprovalButtons,
        conversation_settings: SqlConversationSettingsStore,
    ) -> Dispatcher:
        s = self.settings
        cap = s.daemon.max_concurrent_conversations
        return Dispatcher(
            busy_policy=BusyPolicy(s.daemon.busy_policy),
            conversation_settings=conversation_settings,
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
            self._delivery_ledger(database),
            usage,
            retention_days=m.retention_days,
            interval_seconds=m.prune_interval_seconds,
            now=SystemClock().now,
        )

    def _scheduler(
        self,
        bus: Bus,
        clock: SystemClock,
        scheduled_turns: ConversationService,
        workflow_runner: WorkflowRunner,
        tools: ToolRegistry,
        commands: CommandRouter,
        storage: _Storage,
    ) -> tuple[list[ServiceSpec], list[ServiceSpec]]:
        """The job store, scheduler and job service, with their commands and tools;
        returns the services to start before the channels and after them."""
        sch = self.settings.scheduler
        configured = configured_workflows(self.settings)
        saved = None
        if self.settings.tools.workflows.enabled:
            saved = SqlWorkflowStore(storage.database)
            for tool in WorkflowTools(saved, configured).tools():
                tools.add(tool)
        workflows = WorkflowCatalog(configured, saved)
        store, leases = self._job_store(storage, clock)
        runner = JobRunner(
            store,
            {
                ActionKind.REMINDER: ReminderStrategy(bus.publish),
                ActionKind.PROMPT: PromptStrategy(scheduled_turns, bus.publish),
                ActionKind.WORKFLOW: WorkflowStrategy(workflow_runner, workflows),
            },
            bus.publish,
            clock,
            retry=RetryPolicy(sch.max_attempts, sch.retry_initial_delay_seconds),
            max_jobs_created_per_run=sch.max_jobs_created_per_run,
            tracer=self.tracer,
        )
        scheduler = AsyncioScheduler(
            store,
            runner.fire,
            clock,
            stop_timeout_seconds=self.settings.daemon.shutdown_timeout_seconds / 2,
            # A SQL store may be written by another process (a replica, one that died,
            # `minibot mcp serve`): its jobs are found here too.
            refresh_seconds=sch.refresh_seconds if sch.store == "sql" else None,
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
        self._jobs = jobs
        store_specs = []
        if leases is not None:
            leases.schedule = scheduler.schedule  # lapsed claims go back to this scheduler
            store_specs.append(ServiceSpec(leases))
        aliases = tuple(self.settings.llm.models)
        if aliases:
            aliases = (DEFAULT_MODEL_ALIAS, *aliases)
        for tool in JobTools(jobs, self._prompt_cost(), aliases).tools():
            tools.add(tool)
        JobCommands(jobs).register(commands)
        if configured or saved is not None:
            WorkflowCommands(jobs, workflows).register(commands)
        return (
            [ServiceSpec(jobs, critical=True), *store_specs],
            [ServiceSpec(SchedulerService(jobs, scheduler, bus.publish))],
        )

    def _prompt_cost(self) -> PromptCostEstimate:
        llm = self.settings.llm
        return PromptCostEstimate(
            price_list(llm).price(llm.model),
            system_prompt_tokens=estimate_tokens(llm.system_prompt),
            history_tokens=llm.history_token_budget,
            completion_tokens=llm.max_tokens or self.settings.budgets.assumed_completion_tokens,
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
        self,
        bus: Bus,
        database: SqlDatabase,
        commands: CommandRouter,
        sources: dict[str, MediaSource],
    ) -> list[ServiceSpec]:
        s = self.settings
        if self.mode == "console":
            console = ConsoleChannel(
                bus,
                SqlInbox(database, sync_to_disk=s.memory.sync_before_confirm),
                self._delivery_ledger(database),
                user_id=s.channels.console.user_id,
                chat_id=s.channels.console.chat_id,
                answer_timeout_seconds=turn_deadline_seconds(s.llm),
                stdin=self.stdin,
                stdout=self.stdout,
                tracer=self.tracer,
            )
            return [ServiceSpec(console, critical=True, ends_daemon=True)]
        specs: list[ServiceSpec] = []
        if s.channels.telegram.enabled:
            from minibot.adapters.messaging.telegram import TelegramChannel

            telegram = TelegramChannel(
                s.channels.telegram,
                bus,
                SqlInbox(database, sync_to_disk=s.memory.sync_before_confirm),
                self._delivery_ledger(database),
                commands.commands,
                tracer=self.tracer,
                accepts_media=s.media.enabled,
                leadership=self._poller_leadership(),
                send_limits=self._send_limits(specs),
            )
            sources[telegram.name] = telegram
            specs.append(ServiceSpec(telegram, critical=False))
        if s.channels.slack.enabled:
            from minibot.adapters.messaging.slack import SlackChannel

            slack = SlackChannel(
                s.channels.slack,
                bus,
                SqlInbox(database, sync_to_disk=s.memory.sync_before_confirm),
                self._delivery_ledger(database),
                tracer=self.tracer,
                accepts_media=s.media.enabled,
            )
            sources[slack.name] = slack
            specs.append(ServiceSpec(slack, critical=False))
        if not specs:
            log.warning(
                "no channel is enabled: set [channels.telegram] or [channels.slack] "
                "enabled = true with its tokens, or chat with `minibot console`"
            )
        return specs


def turn_deadline_seconds(llm: LLMSettings) -> float:
    """The longest one conversation turn can run: each of its model calls (the tool loop
    makes up to `max_tool_iterations` + 1, a summary one more) ends within the deadline
    of each model it tries (the chosen one and the fallbacks), with a tool run between
    two of them."""
    calls = llm.max_tool_iterations + 1 + (llm.history_overflow == "summarize")
    per_call = llm.total_deadline_seconds * (1 + len(llm.fallbacks))
    return calls * per_call + llm.max_tool_iterations * llm.tool_timeout_seconds


def tool_permissions(tools: ToolsSettings) -> ToolPermissions:
    permissions = tools.permissions
    return ToolPermissions(
        levels={name: PermissionLevel(level) for name, level in permissions.levels().items()},
        owners={
            owner: {name: PermissionLevel(level) for name, level in levels.items()}
            for owner, levels in permissions.owners.items()
        },
    )


def web_tools(tools: ToolsSettings, resolver: HostResolver) -> WebTools:
    """fetch_url and web_search as configured (neither when both are off); imported
    here, so a daemon without web tools does not load them."""
    from minibot.adapters.web.pinned_fetcher import PinnedFetcher
    from minibot.adapters.web.search_providers import BraveSearch, SearxngSearch
    from minibot.adapters.web.web_reader import PinnedWebReader

    web = tools.web
    fetcher = PinnedFetcher(
        resolver,
        WebRules(
            allowed_hosts=tuple(web.allowed_hosts),
            blocked_hosts=tuple(web.blocked_hosts),
            max_response_bytes=web.max_response_bytes,
            timeout_seconds=web.timeout_seconds,
            max_redirects=web.max_redirects,
        ),
    )
    search: SearchProvider | None = None
    if tools.search.enabled:
        s = tools.search
        search = (
            SearxngSearch(fetcher, s.url)
            if s.provider == "searxng"
            else BraveSearch(fetcher, s.url or BRAVE_API, s.api_key.get_secret_value())
        )
    return WebTools(
        reader=PinnedWebReader(fetcher) if web.enabled else None,
        search=search,
        max_text_chars=web.max_text_chars,
        max_results=tools.search.max_results,
        timeout_seconds=web.timeout_seconds + TOOL_MARGIN_SECONDS,
    )


BRAVE_API = "https://api.search.brave.com"
# Above a tool's own cap (the sandbox's wall time, the fetch's time cap), so that cap,
# with its clearer report, ends the call first.
TOOL_MARGIN_SECONDS = 5.0


def code_sandbox(code: CodeToolSettings) -> CodeSandbox:
    from minibot.adapters.sandbox.bwrap_sandbox import BwrapSandbox

    limits = SandboxLimits(
        timeout_seconds=code.timeout_seconds,
        memory_mb=code.memory_mb,
        max_output_chars=code.max_output_chars,
        max_processes=code.max_processes,
    )
    return BwrapSandbox(limits, bwrap_path=code.bwrap_path, python_path=code.python_path)


def configured_workflows(settings: Settings) -> dict[str, Workflow]:
    """`[workflows.<name>]` as core values; a step without a name is `step<n>`."""
    workflows: dict[str, Workflow] = {}
    for name, section in settings.workflows.items():
        steps = steps_from_fields([step.model_dump() for step in section.steps])
        workflows[name] = Workflow(name, steps, section.description)
    return workflows
