"""minibot's Prometheus series: one registry, fed by facts on the bus, the LLM adapter
and the usage ledger, rendered in the text exposition format for /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

from minibot.core.events import (
    DuplicateIgnored,
    FloodWaited,
    JobCompleted,
    JobFailed,
    JobMissed,
    MessageReceived,
    ReplyDelivered,
    TurnFinished,
)
from minibot.core.health import HealthState
from minibot.core.ports.bus import Bus
from minibot.core.usage import UsageRecord

# What a service's health is, by name: the daemon's, read at each scrape.
HealthStates = Callable[[], dict[str, HealthState]]

TURN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LAG_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
JOB_OUTCOMES = ("delivered", "failed", "missed")


class _ServiceUp(Collector):
    """minibot_service_up{service}: 1 when a service is ready, else 0, read when scraped."""

    def __init__(self) -> None:
        self.states: HealthStates | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "minibot_service_up", "1 when the service is ready, 0 otherwise", labels=["service"]
        )
        for name, state in (self.states() if self.states is not None else {}).items():
            family.add_metric([name], 1.0 if state is HealthState.READY else 0.0)
        yield family


class Metrics:
    """The series of the observability contract, in a registry of their own (nothing
    else in the process adds to it). Labels are bounded: channel, model, outcome, kind,
    reason, service; never a chat or a user. `channels` and `models` are known at start
    so their series exist at zero before the first message (alert rules see them)."""

    def __init__(
        self, now: Callable[[], datetime], channels: Iterable[str] = (), models: Iterable[str] = ()
    ) -> None:
        self._now = now
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.messages_received = Counter(
            "minibot_messages_received",
            "Messages stored and handed on",
            ["channel"],
            registry=registry,
        )
        self.replies_sent = Counter(
            "minibot_replies_sent", "Replies wholly delivered", ["channel"], registry=registry
        )
        self.turn_duration = Histogram(
            "minibot_turn_duration_seconds",
            "Conversation turn, history in to answer stored",
            buckets=TURN_BUCKETS,
            registry=registry,
        )
        self.llm_requests = Counter(
            "minibot_llm_requests",
            "LLM requests by how they ended",
            ["model", "outcome"],
            registry=registry,
        )
        self.llm_tokens = Counter(
            "minibot_llm_tokens",
            "Tokens used (prompt, completion)",
            ["model", "kind"],
            registry=registry,
        )
        self.llm_cost = Counter(
            "minibot_llm_cost_usd",
            "Estimated LLM cost in US dollars",
            ["model"],
            registry=registry,
        )
        self.llm_retries = Counter(
            "minibot_llm_retries", "LLM attempts retried, by why", ["reason"], registry=registry
        )
        self.flood_waits = Counter(
            "minibot_channel_flood_waits",
            "Rate limits (429) met while sending",
            ["channel"],
            registry=registry,
        )
        self.jobs_fired = Counter(
            "minibot_jobs_fired", "Scheduled runs by outcome", ["outcome"], registry=registry
        )
        self.job_lag = Histogram(
            "minibot_job_delivery_lag_seconds",
            "From a run's due time to its delivery",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.inbox_pending = Gauge(
            "minibot_inbox_pending",
            "Inbox items not yet answered",
            ["channel"],
            registry=registry,
        )
        self.duplicates = Counter(
            "minibot_duplicates_prevented",
            "Updates received again and dropped",
            ["channel"],
            registry=registry,
        )
        self._service_up = _ServiceUp()
        registry.register(self._service_up)
        for outcome in JOB_OUTCOMES:
            self.jobs_fired.labels(outcome)
        for channel in channels:
            for counter in (
                self.messages_received,
                self.replies_sent,
                self.flood_waits,
                self.duplicates,
            ):
                counter.labels(channel)
            self.inbox_pending.labels(channel)
        for model in models:
            self.llm_requests.labels(model, "ok")
            self.llm_cost.labels(model)
            for kind in ("prompt", "completion"):
                self.llm_tokens.labels(model, kind)

    def watch_health(self, states: HealthStates) -> None:
        self._service_up.states = states

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type: text format 0.0.4, which every
        Prometheus release reads (the names here need none of 1.0.0's escaping)."""
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4

    def subscribe(self, bus: Bus) -> None:
        # Inline: each handler only adds to a counter, cheaper than a queue hop.
        bus.subscribe(MessageReceived, self._on_message, name="metrics-messages", inline=True)
        bus.subscribe(ReplyDelivered, self._on_reply, name="metrics-replies", inline=True)
        bus.subscribe(TurnFinished, self._on_turn, name="metrics-turns", inline=True)
        bus.subscribe(FloodWaited, self._on_flood, name="metrics-floods", inline=True)
        bus.subscribe(DuplicateIgnored, self._on_duplicate, name="metrics-dups", inline=True)
        bus.subscribe(JobCompleted, self._on_job_done, name="metrics-jobs", inline=True)
        bus.subscribe(JobFailed, self._on_job_failed, name="metrics-job-fails", inline=True)
        bus.subscribe(JobMissed, self._on_job_missed, name="metrics-job-misses", inline=True)

    async def _on_message(self, event: MessageReceived) -> None:
        self.messages_received.labels(event.message.conversation.channel).inc()

    async def _on_reply(self, event: ReplyDelivered) -> None:
        self.replies_sent.labels(event.conversation.channel).inc()

    async def _on_turn(self, event: TurnFinished) -> None:
        self.turn_duration.observe(event.duration_seconds)

    async def _on_flood(self, event: FloodWaited) -> None:
        self.flood_waits.labels(event.channel).inc()

    async def _on_duplicate(self, event: DuplicateIgnored) -> None:
        self.duplicates.labels(event.channel).inc()

    async def _on_job_done(self, event: JobCompleted) -> None:
        self.jobs_fired.labels("delivered").inc()
        self.job_lag.observe(max(0.0, (self._now() - event.occurrence).total_seconds()))

    async def _on_job_failed(self, event: JobFailed) -> None:
        self.jobs_fired.labels("failed").inc()

    async def _on_job_missed(self, event: JobMissed) -> None:
        self.jobs_fired.labels("missed").inc()

    # LlmObserver: told by the LLM adapter.
    def request_finished(self, model: str, outcome: str) -> None:
        self.llm_requests.labels(model, outcome).inc()

    def retried(self, reason: str) -> None:
        self.llm_retries.labels(reason).inc()

    def usage_recorded(self, record: UsageRecord) -> None:
        self.llm_tokens.labels(record.model, "prompt").inc(record.prompt_tokens)
        self.llm_tokens.labels(record.model, "completion").inc(record.completion_tokens)
        self.llm_cost.labels(record.model).inc(record.cost_usd)
