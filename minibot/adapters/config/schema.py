"""The configuration schema: one typed, strict model per section of config.toml."""

from __future__ import annotations

import zoneinfo
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["logfmt", "json"] = "logfmt"


class DaemonSettings(Section):
    shutdown_timeout_seconds: float = Field(10.0, gt=0)
    max_concurrent_conversations: int = Field(256, ge=1)
    restart_initial_delay_seconds: float = Field(0.5, gt=0)
    restart_max_delay_seconds: float = Field(30.0, gt=0)
    max_restarts: int = Field(5, ge=0)


class BusSettings(Section):
    queue_size: int = Field(1024, ge=1)
    # "memory": one process. "rabbitmq": replicas share the broker at `url`.
    backend: Literal["memory", "rabbitmq"] = "memory"
    # amqp://user:password@host:5672/vhost; a secret, as it may hold a password.
    url: SecretStr = SecretStr("")
    # Conversations are spread over this many queues by a stable hash of their key.
    partitions: int = Field(16, ge=1, le=1024)
    # Prefix of every exchange and queue, so two bots or test runs share a broker.
    namespace: str = Field("minibot", pattern=r"^[A-Za-z0-9_.-]+$")
    # A replica silent this long (hung, cut off) is dropped by the broker, and its
    # partitions move to another replica.
    heartbeat_seconds: int = Field(5, ge=1, le=60)
    # Messages one partition may have under way in a replica (each acknowledged once its
    # turn and delivery are done); 1 serialises every conversation sharing a partition.
    prefetch: int = Field(32, ge=1, le=10_000)

    @model_validator(mode="after")
    def _rabbitmq_needs_url(self) -> BusSettings:
        if self.backend == "rabbitmq" and not self.url.get_secret_value():
            raise ValueError("url: is required when backend = rabbitmq (amqp://...)")
        return self


class RedisSettings(Section):
    # redis://host:6379/0: limits shared by every replica (Telegram flood control);
    # empty: each process keeps its own. A secret, as it may hold a password.
    url: SecretStr = SecretStr("")


class ModelPrice(Section):
    """US dollars per million tokens."""

    prompt_per_million: float = Field(0.0, ge=0)
    completion_per_million: float = Field(0.0, ge=0)


class LLMSettings(Section):
    provider: Literal["openai", "openai_responses", "openrouter", "claude", "google"] = "openai"
    model: str = "gpt-4o-mini"
    api_key: SecretStr = SecretStr("")
    base_url: str = ""
    stream: bool = False
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)
    request_timeout_seconds: float = Field(60.0, gt=0)
    total_deadline_seconds: float = Field(120.0, gt=0)
    max_attempts: int = Field(4, ge=1)
    retry_initial_delay_seconds: float = Field(0.5, ge=0)
    retry_max_delay_seconds: float = Field(20.0, ge=0)
    max_connections: int = Field(512, ge=1)
    max_tool_iterations: int = Field(5, ge=0)
    tool_timeout_seconds: float = Field(15.0, gt=0)
    # In a group, how long a speaker has to approve held tool calls before it is a deny.
    tool_approval_timeout_seconds: float = Field(300.0, gt=0)
    system_prompt: str = "You are minibot, a concise and helpful personal assistant."
    history_window: int = Field(30, ge=1)
    history_token_budget: int = Field(6000, ge=1)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)


class MemorySettings(Section):
    url: str = "sqlite+aiosqlite:///./data/minibot.db"
    # Migrate the schema to this release's at start-up; false: a database that is behind
    # stops the daemon (exit 2) until `minibot db upgrade` is run. Applies to
    # [kv_memory] url too.
    auto_migrate: bool = True
    # SQLite: sync the log to disk before an update is confirmed to Telegram, so that
    # confirmed updates survive a power loss too (not only a crash of the process).
    sync_before_confirm: bool = False
    # Handled inbox items and delivery records older than this are deleted, usage rows
    # folded into daily sums (0 keeps everything).
    retention_days: float = Field(30.0, ge=0)
    prune_interval_seconds: float = Field(3600.0, gt=0)


class KVMemorySettings(Section):
    enabled: bool = True
    url: str = ""
    default_limit: int = Field(10, ge=1)
    max_limit: int = Field(50, ge=1)
    max_title_chars: int = Field(200, ge=1)
    max_content_chars: int = Field(8000, ge=1)
    identities: dict[str, str] = Field(
        default_factory=dict,
        description="maps a channel identity (telegram:123) to one owner id shared across channels",
    )

    @model_validator(mode="after")
    def _limits_ordered(self) -> KVMemorySettings:
        if self.default_limit > self.max_limit:
            raise ValueError(f"default_limit: must not exceed max_limit ({self.max_limit})")
        return self


class TelegramSettings(Section):
    enabled: bool = False
    bot_token: SecretStr = SecretStr("")
    api_base: str = "https://api.telegram.org"
    allowed_user_ids: list[int] = Field(default_factory=list)
    allowed_chat_ids: list[int] = Field(default_factory=list)
    open_mode: bool = False
    mode: Literal["long_polling", "webhook"] = "long_polling"
    url: str = ""
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8443, ge=0, le=65535)
    secret_token: SecretStr = SecretStr("")
    group_reply: Literal["mention_or_reply", "always"] = "mention_or_reply"
    stream_edits: bool = False
    edit_interval_seconds: float = Field(1.0, gt=0)
    polling_timeout_seconds: int = Field(30, ge=0)
    max_send_attempts: int = Field(5, ge=1)
    # Telegram's limit on messages per second for the whole bot (every chat, every
    # replica together, through [redis] when it is set).
    max_sends_per_second: float = Field(30.0, gt=0)
    # With replicas: a poller that hangs this long loses the poller lock to another
    # (PostgreSQL idle_session_timeout; a crashed one loses it at once).
    leader_timeout_seconds: float = Field(5.0, ge=1.0)

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> TelegramSettings:
        if self.enabled and not self.bot_token.get_secret_value():
            raise ValueError("bot_token: is required when telegram is enabled")
        if self.enabled and self.mode == "webhook":
            if not self.secret_token.get_secret_value():
                raise ValueError("secret_token: is required in webhook mode")
            if not self.url:
                raise ValueError("url: is required in webhook mode (the public HTTPS address)")
        return self


class ConsoleSettings(Section):
    user_id: str = "local"
    chat_id: str = "console"


class NotYetImplemented(Section):
    """A section of a later roadmap stage: accepted as schema, wires nothing yet."""

    enabled: Literal[False] = False


class SlackSettings(Section):
    enabled: bool = False
    bot_token: SecretStr = SecretStr("")
    signing_secret: SecretStr = SecretStr("")
    # Socket Mode's app-level token (xapp-...), used only with mode = "socket".
    app_token: SecretStr = SecretStr("")
    mode: Literal["events", "socket"] = "events"
    # Slack's Web API; any other base points the client at a fake or a proxy.
    api_base: str = "https://slack.com/api/"
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(3000, ge=0, le=65535)
    events_path: str = "/slack/events"
    allowed_user_ids: list[str] = Field(default_factory=list)
    allowed_channel_ids: list[str] = Field(default_factory=list)
    open_mode: bool = False
    channel_reply: Literal["mention_or_thread", "always"] = "mention_or_thread"
    max_message_chars: int = Field(4000, ge=100, le=40000)
    stream_edits: bool = False
    edit_interval_seconds: float = Field(1.0, gt=0)
    max_send_attempts: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _credentials_for_mode(self) -> SlackSettings:
        if not self.enabled:
            return self
        if not self.bot_token.get_secret_value():
            raise ValueError("bot_token: is required when slack is enabled")
        if self.mode == "events" and not self.signing_secret.get_secret_value():
            raise ValueError("signing_secret: is required in events mode")
        if self.mode == "socket" and not self.app_token.get_secret_value():
            raise ValueError("app_token: is required in socket mode")
        if not self.events_path.startswith("/"):
            raise ValueError("events_path: must start with /")
        return self


class ChannelsSettings(Section):
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)


class SchedulerSettings(Section):
    enabled: bool = True
    # Where jobs are kept: the file store (one process) or SQL (several may share it).
    store: Literal["file", "sql"] = "file"
    store_path: str = "./data/tasks"
    # The SQL store's database; empty: the [memory] database.
    url: str = ""
    # How long a claim on a running job holds before another process may take it over;
    # the holder renews it every third of this while it runs.
    lease_seconds: float = Field(60.0, gt=0)
    # With replicas (bus backend rabbitmq): how often each re-reads the shared schedule,
    # so a job another replica created still fires if that replica dies.
    refresh_seconds: float = Field(2.0, gt=0)
    timezone: str = "UTC"
    grace_window_seconds: float = Field(3600.0, ge=0)
    max_attempts: int = Field(3, ge=1)
    retry_initial_delay_seconds: float = Field(30.0, ge=0)
    compact_after_records: int = Field(10_000, ge=10)
    max_jobs_per_owner: int = Field(100, ge=1)
    max_jobs_created_per_run: int = Field(0, ge=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        # Checked here, or the first /remind would be where a typo surfaces.
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "not a known time zone (use an IANA name such as Europe/Berlin)"
            ) from None
        return value


class Settings(Section):
    """The whole configuration: TOML values, overridden by MINIBOT_<SECTION>__<KEY> variables
    (the loader lays those over the file; see `env_overrides.py`)."""

    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    kv_memory: KVMemorySettings = Field(default_factory=KVMemorySettings)
    channels: ChannelsSettings = Field(default_factory=ChannelsSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    control_plane: NotYetImplemented = Field(default_factory=NotYetImplemented)
    metrics: NotYetImplemented = Field(default_factory=NotYetImplemented)

    @model_validator(mode="after")
    def _replicas_share_state(self) -> Settings:
        """Replicas on RabbitMQ must share everything else too; refused here, at start,
        rather than found out as lost or doubled messages."""
        if self.bus.backend != "rabbitmq":
            return self
        if not self.memory.url.startswith("postgresql"):
            raise ValueError(
                "memory.url: backend = rabbitmq runs replicas that must share one database; "
                "use PostgreSQL (postgresql+asyncpg://...), not SQLite"
            )
        if self.scheduler.enabled and self.scheduler.store != "sql":
            raise ValueError(
                'scheduler.store: backend = rabbitmq needs store = "sql", so each job is '
                "claimed and fired once by one replica (the file store is one process's)"
            )
        if self.scheduler.url and not self.scheduler.url.startswith("postgresql"):
            raise ValueError("scheduler.url: replicas must share a PostgreSQL job store")
        if self.channels.telegram.enabled and not self.redis.url.get_secret_value():
            raise ValueError(
                "redis.url: backend = rabbitmq with Telegram needs Redis, so the replicas "
                "together keep within Telegram's per-bot flood limits"
            )
        return self
