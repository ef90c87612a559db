"""The configuration schema: one typed, strict model per section of config.toml."""

from __future__ import annotations

import ipaddress
import re
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
    # What a message arriving while its conversation's turn runs does: waits its turn
    # (queue), joins the running turn before its next model call (steer), or cancels it
    # and is answered instead (interrupt). `/busy` changes it per conversation.
    busy_policy: Literal["queue", "steer", "interrupt"] = "queue"


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
    # With rabbitmq, a replica claims each reply chunk in the shared ledger for this long
    # before sending it; must outlast one send with its retries (a replica hung longer
    # between claim and record may see that chunk sent again by another).
    delivery_lease_seconds: float = Field(30.0, gt=0, le=3600)

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
    """US dollars per million tokens; for audio models per minute of audio (transcribed,
    or spoken: estimated from the text), for image models per image."""

    prompt_per_million: float = Field(0.0, ge=0)
    completion_per_million: float = Field(0.0, ge=0)
    per_minute: float = Field(0.0, ge=0)
    per_image: float = Field(0.0, ge=0)


class NamedModelSettings(Section):
    """One `[llm.models.<alias>]` table: a model `/model <alias>` and fallbacks may name.
    Timeouts, retries and the rest come from `[llm]`."""

    provider: Literal["openai", "openai_responses", "openrouter", "claude", "google"] = "openai"
    model: str
    base_url: str = ""
    api_key: SecretStr = SecretStr("")
    # US dollars per million tokens; unset: priced as the most expensive known model.
    prompt_per_million: float | None = Field(None, ge=0)
    completion_per_million: float | None = Field(None, ge=0)
    vision: bool = False
    context_window: int | None = Field(None, ge=1)


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
    # Whether the model is shown the photos people send; false: they are told it cannot.
    vision: bool = True
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    # The default model's window; a named model may have its own.
    context_window: int | None = Field(None, ge=1)
    models: dict[str, NamedModelSettings] = Field(default_factory=dict)
    # Tried in order when the current model fails for good on a passing condition (429,
    # 5xx, timeout, dropped connection); never for a refused request (400, 401, 403).
    fallbacks: list[str] = Field(default_factory=list)
    # When the history outgrows history_token_budget: "summarize" folds the older part
    # into a stored summary the model receives first; "cut" drops it (the old behaviour).
    history_overflow: Literal["summarize", "cut"] = "cut"
    # One message longer than this is cut to it, and the reply says so.
    max_input_tokens: int = Field(8000, ge=1)

    @model_validator(mode="after")
    def _aliases_known(self) -> LLMSettings:
        if DEFAULT_MODEL_ALIAS in self.models:
            raise ValueError(f"models.{DEFAULT_MODEL_ALIAS}: is the [llm] model's own alias")
        for alias in self.fallbacks:
            if alias != DEFAULT_MODEL_ALIAS and alias not in self.models:
                raise ValueError(f"fallbacks: {alias!r} is not a [llm.models.<alias>] table")
        return self


# The alias of the model `[llm]` itself describes.
DEFAULT_MODEL_ALIAS = "default"


class OwnerBudget(Section):
    """An owner's own limits, in place of the defaults (unset: the default applies)."""

    daily_usd: float | None = Field(None, ge=0)
    monthly_usd: float | None = Field(None, ge=0)


class BudgetSettings(Section):
    """Spending limits in US dollars, checked before every request (unset: no limit)."""

    daily_usd_per_owner: float | None = Field(None, ge=0)
    monthly_usd_per_owner: float | None = Field(None, ge=0)
    # One scheduled prompt's run (or one workflow's).
    per_run_usd: float | None = Field(None, ge=0)
    owners: dict[str, OwnerBudget] = Field(default_factory=dict)
    exempt_owners: list[str] = Field(default_factory=list)
    # The answer's length assumed when a request sets no max_tokens.
    assumed_completion_tokens: int = Field(1000, ge=1)


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
    # Part of conversation keys and turn ids, which use `/` and `#` as separators.
    chat_id: str = Field("console", pattern=r"^[^/#]+$")


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


class MediaSettings(Section):
    """Voice, photos, documents and generated images. An empty service key, base URL or
    API key means the [llm] one."""

    enabled: bool = True
    transcription_model: str = "whisper-1"
    transcription_base_url: str = ""
    transcription_api_key: SecretStr = SecretStr("")
    tts_model: str = "tts-1"
    tts_voice: str = "alloy"
    tts_base_url: str = ""
    tts_api_key: SecretStr = SecretStr("")
    image_model: str = "gpt-image-1"
    image_size: str = "1024x1024"
    image_base_url: str = ""
    image_api_key: SecretStr = SecretStr("")
    # Say the transcript of a voice note back to the sender before the answer.
    show_transcript: bool = False
    max_audio_seconds: int = Field(600, ge=1)
    max_file_bytes: int = Field(20_000_000, ge=1)
    # A document's text past this many characters is cut (and the model is told so).
    max_document_chars: int = Field(20_000, ge=100)
    # A spoken answer longer than this is also sent as text beside the voice note.
    voice_text_chars: int = Field(300, ge=0)
    # Keep downloaded files under keep_path (for debugging); otherwise they live only in
    # memory for the turn that reads them.
    keep: bool = False
    keep_path: str = "./data/media"
    request_timeout_seconds: float = Field(120.0, gt=0)


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
    # With the SQL store: how often the schedule is re-read, so a job another process
    # made (a replica, even one that died, or `minibot mcp serve`) fires here too.
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


class MetricsSettings(Section):
    """Prometheus series (see docs/observability.md). Served by the control plane's
    /metrics when it is on, else by a listener of their own on listen_host:listen_port."""

    enabled: bool = False
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(9464, ge=0, le=65535)
    # How often minibot_inbox_pending is read from the inbox.
    inbox_poll_seconds: float = Field(15.0, gt=0)


class TracingSettings(Section):
    """OpenTelemetry traces exported over OTLP/HTTP (protobuf)."""

    enabled: bool = False
    otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    service_name: str = Field("minibot", min_length=1)
    sample_ratio: float = Field(1.0, ge=0, le=1)
    # Message and reply text in span attributes: off, so a trace store holds no chats.
    include_content: bool = False
    export_timeout_seconds: float = Field(5.0, gt=0)

    @field_validator("otlp_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL (OTLP over HTTP)")
        return value


class AlertsSettings(Section):
    """Alerts sent by minibot itself (to a Telegram chat and/or a webhook), for those
    who run no Prometheus."""

    enabled: bool = False
    telegram_chat_id: int | None = None
    # May carry a token in its path (a Slack incoming webhook does): kept secret.
    webhook_url: SecretStr = SecretStr("")
    # The model failing this many turns within window_seconds raises an alert.
    model_failures: int = Field(3, ge=1)
    window_seconds: float = Field(300.0, gt=0)
    # How often the services' health is looked at.
    health_check_seconds: float = Field(15.0, gt=0)
    webhook_timeout_seconds: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _somewhere_to_send(self) -> AlertsSettings:
        url = self.webhook_url.get_secret_value()
        if self.enabled and self.telegram_chat_id is None and not url:
            raise ValueError("telegram_chat_id or webhook_url: one is required when enabled")
        if url and not url.startswith(("http://", "https://")):
            raise ValueError("webhook_url: must be an http:// or https:// URL")
        return self


ToolLevel = Literal["allow", "confirm", "deny"]


class ToolPermissionsSettings(Section):
    """`[tools.permissions]`: tool name = level; `owners."<owner id>"` overrides per owner."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    owners: dict[str, dict[str, ToolLevel]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _levels_known(self) -> ToolPermissionsSettings:
        for tool, level in (self.model_extra or {}).items():
            if level not in ("allow", "confirm", "deny"):
                raise ValueError(f"{tool}: must be allow, confirm or deny (got {level!r})")
        return self

    def levels(self) -> dict[str, str]:
        return {tool: str(level) for tool, level in (self.model_extra or {}).items()}


class WebToolSettings(Section):
    """`[tools.web]`: fetch_url, and the address rules web_search's provider URL obeys too."""

    enabled: bool = False
    allowed_hosts: list[str] = Field(default_factory=list)
    blocked_hosts: list[str] = Field(default_factory=list)
    max_response_bytes: int = Field(2_000_000, ge=1024)
    timeout_seconds: float = Field(15.0, gt=0)
    max_redirects: int = Field(5, ge=0, le=20)
    max_text_chars: int = Field(12_000, ge=100)

    @field_validator("allowed_hosts", "blocked_hosts")
    @classmethod
    def _host_entries(cls, entries: list[str]) -> list[str]:
        from minibot.core.address_rules import HostEntry

        for entry in entries:
            HostEntry.parse(entry)
        return entries


class SearchToolSettings(Section):
    """`[tools.search]`: web_search through SearXNG or the Brave Search API."""

    enabled: bool = False
    provider: Literal["searxng", "brave"] = "searxng"
    url: str = ""
    api_key: SecretStr = SecretStr("")
    max_results: int = Field(5, ge=1, le=20)

    @model_validator(mode="after")
    def _provider_ready(self) -> SearchToolSettings:
        if self.enabled and self.provider == "searxng" and not self.url:
            raise ValueError("url: is required for the searxng provider (the instance's base URL)")
        if self.enabled and self.provider == "brave" and not self.api_key.get_secret_value():
            raise ValueError("api_key: is required for the brave provider")
        return self


class CodeToolSettings(Section):
    """`[tools.code]`: run_code in bubblewrap; never offered without a working sandbox."""

    enabled: bool = False
    timeout_seconds: float = Field(10.0, gt=0, le=300)
    memory_mb: int = Field(256, ge=32)
    max_output_chars: int = Field(20_000, ge=100)
    max_processes: int = Field(32, ge=1)
    bwrap_path: str = "bwrap"
    python_path: str = "/usr/bin/python3"


class WorkflowToolSettings(Section):
    """`save_workflow` (confirm by default), `list_workflows`, `delete_workflow`: owners
    create their own workflows. Needs `[scheduler] enabled` (workflows run as jobs)."""

    enabled: bool = False


class ToolsSettings(Section):
    # Every tool's result is cut to this many characters (the result says so).
    max_output_chars: int = Field(16_000, ge=500)
    permissions: ToolPermissionsSettings = Field(default_factory=ToolPermissionsSettings)
    web: WebToolSettings = Field(default_factory=WebToolSettings)
    search: SearchToolSettings = Field(default_factory=SearchToolSettings)
    code: CodeToolSettings = Field(default_factory=CodeToolSettings)
    workflows: WorkflowToolSettings = Field(default_factory=WorkflowToolSettings)


class McpServerSettings(Section):
    """`[mcp.servers.<name>]`: a local command (stdio) or a URL (Streamable HTTP)."""

    # stdio: the program, its arguments, the only variables it gets beyond PATH, HOME
    # and LANG (secrets through ${VAR}), and its working directory.
    command: str = ""
    args: list[str] = Field(default_factory=list)
    env: dict[str, SecretStr] = Field(default_factory=dict)
    cwd: str = ""
    # Streamable HTTP: the endpoint (naming it allows its host and port, loopback and
    # private networks included) and headers sent with each request (secrets allowed).
    url: str = ""
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    enabled: bool = True
    # Which of the server's tools are offered (by the server's names); absent: all.
    enabled_tools: list[str] | None = None
    # Each tool call's limit.
    timeout_seconds: float = Field(30.0, gt=0)
    # Which owner ids get these tools; absent: everyone allowed to talk to the bot.
    owners: list[str] | None = None
    # The level of this server's tools unless [tools.permissions] names one.
    permission: Literal["allow", "confirm", "deny"] = "confirm"

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSettings:
        if bool(self.command) == bool(self.url):
            raise ValueError("give either command (stdio) or url (Streamable HTTP)")
        if self.url and (self.args or self.env or self.cwd):
            raise ValueError("args, env and cwd are for a command; a url server takes headers")
        if self.command and self.headers:
            raise ValueError("headers are for a url server")
        return self


class McpSettings(Section):
    servers: dict[str, McpServerSettings] = Field(default_factory=dict)
    # The limit for opening a session (a server's start-up, the handshake, listing tools).
    connect_timeout_seconds: float = Field(30.0, gt=0)
    # How often a connected server is pinged (a dead one is found and reconnected).
    ping_interval_seconds: float = Field(15.0, gt=0)
    # Reconnection back-off after a server fails: from the first wait up to the cap.
    reconnect_initial_delay_seconds: float = Field(1.0, gt=0)
    reconnect_max_delay_seconds: float = Field(60.0, gt=0)

    @field_validator("servers")
    @classmethod
    def _names(cls, servers: dict[str, McpServerSettings]) -> dict[str, McpServerSettings]:
        for name in servers:
            if not re.fullmatch(r"[A-Za-z0-9-]{1,24}", name):
                raise ValueError(
                    f"{name!r}: a server name is 1-24 letters, digits or '-' "
                    "(it becomes part of the tool names mcp_<server>_<tool>)"
                )
        return servers


class WorkflowStepSettings(Section):
    """One step of `[[workflows.<name>.steps]]`: `kind` and the field that kind needs
    (fetch: url, search: query, run_code: code, ask: prompt, send: text). Text fields
    may refer to earlier steps' results: `{name}` or `{name.field}`."""

    kind: Literal["fetch", "search", "run_code", "ask", "send"]
    name: str = Field("", pattern=r"^$|^[A-Za-z_][A-Za-z0-9_]*$")
    url: str = ""
    query: str = ""
    code: str = ""
    language: Literal["python"] = "python"
    prompt: str = ""
    text: str = ""


class WorkflowSettings(Section):
    description: str = ""
    steps: list[WorkflowStepSettings] = Field(min_length=1)

    @model_validator(mode="after")
    def _steps_complete(self) -> WorkflowSettings:
        from minibot.core.workflows import WorkflowInvalid, steps_from_fields

        try:
            steps_from_fields([step.model_dump() for step in self.steps])
        except WorkflowInvalid as exc:
            raise ValueError(str(exc)) from None
        return self


class ControlPlaneSettings(Section):
    """The HTTP control plane, dashboard and web chat (`adapters/http/control_plane`)."""

    enabled: bool = False
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(8080, ge=0, le=65535)
    # Bearer token of the API and the dashboard's login password; required off loopback.
    token: SecretStr = SecretStr("")
    # Who the dashboard's user speaks as in the web chat, named as owners are everywhere
    # (`<channel>:<user id>`); map it in [kv_memory.identities] to share notes and tasks.
    owner: str = "web:owner"
    # Request bodies larger than this are refused with 413 (files on the web chat are
    # capped by [media] max_file_bytes instead).
    max_body_bytes: int = Field(65_536, ge=1024)
    # Where files posted on the web chat wait until the turn that reads them is answered.
    upload_path: str = "./data/web-uploads"
    # A dashboard login lasts this long (kept in the SQL store: restarts keep it).
    session_hours: float = Field(12.0, gt=0, le=720)

    @model_validator(mode="after")
    def _token_off_loopback(self) -> ControlPlaneSettings:
        if self.enabled and not self.token.get_secret_value() and not _loopback(self.listen_host):
            raise ValueError(
                f"token: is required when listen_host ({self.listen_host}) is not a "
                "loopback address"
            )
        channel, _, user_id = self.owner.partition(":")
        if channel != "web" or not user_id:
            raise ValueError(
                "owner: must read web:<user id> (e.g. web:owner); map it to another "
                "identity in [kv_memory.identities]"
            )
        return self


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(Section):
    """The whole configuration: TOML values, overridden by MINIBOT_<SECTION>__<KEY> variables
    (the loader lays those over the file; see `env_overrides.py`)."""

    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    kv_memory: KVMemorySettings = Field(default_factory=KVMemorySettings)
    channels: ChannelsSettings = Field(default_factory=ChannelsSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    tools: ToolsSettings = Field(default_factory=ToolsSettings)
    mcp: McpSettings = Field(default_factory=McpSettings)
    workflows: dict[str, WorkflowSettings] = Field(default_factory=dict)
    media: MediaSettings = Field(default_factory=MediaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    control_plane: ControlPlaneSettings = Field(default_factory=ControlPlaneSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)

    @model_validator(mode="after")
    def _alerts_have_a_channel(self) -> Settings:
        alerts = self.alerts
        chat = alerts.enabled and alerts.telegram_chat_id is not None
        if chat and not self.channels.telegram.enabled:
            raise ValueError("alerts.telegram_chat_id: needs [channels.telegram] enabled = true")
        return self

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
