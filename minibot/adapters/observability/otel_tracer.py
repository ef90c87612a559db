"""The `Tracer` port over the OpenTelemetry SDK, exporting over OTLP/HTTP (protobuf).

The SDK is imported in `start`, so a daemon with tracing off never loads it. Spans are
parented by the carried W3C traceparent (shared/trace_context), not by OpenTelemetry's
own context: that one value already travels through the bus, the lanes and envelopes
between processes, so a trace follows a message everywhere it goes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from minibot.adapters.config.schema import TracingSettings
from minibot.core.ports.tracer import AttributeValue
from minibot.core.tracing import NO_SPAN, NO_TRACER
from minibot.shared.trace_context import trace_ids, traceparent

log = logging.getLogger(__name__)

# The SDK warns once per span dropped from a full queue (a collector down for a while):
# once a minute says as much without flooding the log.
_DROP_WARNING_INTERVAL_SECONDS = 60.0


class _QueueFullOncePerInterval(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._last = -_DROP_WARNING_INTERVAL_SECONDS

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("Queue full"):
            return True
        now = time.monotonic()
        if now - self._last < _DROP_WARNING_INTERVAL_SECONDS:
            return False
        self._last = now
        return True


# Spans wait at most this long in memory before a batch goes out.
_SCHEDULE_DELAY_MILLIS = 1000
_MAX_QUEUE_SIZE = 4096
# A request per this many spans at most (the SDK's default, 512, is two a second at
# 250 messages a second); a delay's worth of spans usually goes in one.
_MAX_EXPORT_BATCH_SIZE = 2048


class _Scope:
    """One span from `__enter__` to `__exit__`, current (as the traceparent) in between."""

    __slots__ = (
        "_attributes",
        "_events",
        "_late",
        "_name",
        "_otel",
        "_span",
        "_start_ns",
        "_token",
    )

    def __init__(
        self,
        otel: _Otel,
        name: str,
        attributes: Mapping[str, AttributeValue] | None,
        start_ns: int | None,
    ) -> None:
        self._otel = otel
        self._name = name
        self._attributes = attributes
        self._start_ns = start_ns
        self._span: Any = None
        self._token: Any = None
        self._late: dict[str, AttributeValue] | None = None
        self._events: list[tuple[str, Mapping[str, AttributeValue] | None, int]] | None = None

    def set(self, key: str, value: AttributeValue) -> None:
        # Kept until the end: one call into the SDK (and its lock) for all of them.
        if self._late is None:
            self._late = {}
        self._late[key] = value

    def event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None:
        # Timed now, handed to the SDK at the end with the late attributes.
        if self._events is None:
            self._events = []
        self._events.append((name, attributes, time.time_ns()))

    def __enter__(self) -> _Scope:
        otel = self._otel
        span = otel.tracer.start_span(
            self._name,
            context=otel.parent(traceparent.get()),
            attributes=self._attributes,
            start_time=self._start_ns,
        )
        self._span = span
        self._token = traceparent.set(otel.opened(span))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        value = traceparent.get()
        traceparent.reset(self._token)
        span = self._span
        if self._late is not None:
            span.set_attributes(self._late)
        if self._events is not None:
            for name, attributes, at_ns in self._events:
                span.add_event(name, attributes, at_ns)
        if exc is not None and not isinstance(exc, asyncio.CancelledError | GeneratorExit):
            span.set_status(self._otel.error_status(type(exc).__name__))
        self._otel.closed(value)
        span.end()


# The last hex digit of a traceparent's flags when the sampled bit (0x01) is clear.
_UNSAMPLED_LAST_DIGITS = frozenset("02468ace")


class _Otel:
    """The SDK's tracer and the contexts of the spans open in this process, by their
    traceparent: a child finds its parent's context there instead of rebuilding it."""

    def __init__(self, tracer: Any) -> None:
        from opentelemetry import trace
        from opentelemetry.context import Context
        from opentelemetry.trace import Status, StatusCode

        self.tracer = tracer
        self._trace = trace
        self._empty = Context()
        self._status = Status
        self._error = StatusCode.ERROR
        self._open: dict[str, Any] = {}

    def opened(self, span: Any) -> str:
        context = span.get_span_context()
        value = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
        # The span itself: its context is made only if a child asks (half of them do).
        self._open[value] = span
        return value

    def closed(self, value: str | None) -> None:
        if value is not None:
            self._open.pop(value, None)

    def error_status(self, description: str) -> Any:
        return self._status(self._error, description)

    def parent(self, value: str | None) -> Any:
        if value is None:
            return self._empty  # a new trace
        known = self._open.get(value)
        if known is not None:
            return self._trace.set_span_in_context(known, self._empty)
        # From another process, or a span already ended (its children may outlive it).
        ids = trace_ids(value)
        if ids is None:
            return self._empty
        trace = self._trace
        try:
            parent = trace.SpanContext(
                trace_id=int(ids[0], 16),
                span_id=int(ids[1], 16),
                is_remote=True,
                trace_flags=trace.TraceFlags(int(value[53:55], 16)),
            )
        except ValueError:
            return self._empty
        return trace.set_span_in_context(trace.NonRecordingSpan(parent), self._empty)


class OtelTracer:
    """A `Tracer` (see the port) whose spans are batched and exported by a thread of the
    SDK's: a slow or broken collector costs the event loop nothing, and spans it cannot
    take are dropped once the queue is full (never waited for)."""

    name = "tracing"

    def __init__(self, settings: TracingSettings) -> None:
        self._settings = settings
        self._provider: Any = None
        self._otel: _Otel | None = None

    @property
    def include_content(self) -> bool:
        return self._settings.include_content

    def span(
        self,
        name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        *,
        start_ns: int | None = None,
    ) -> Any:
        if self._otel is None:
            return NO_TRACER.span(name)
        parent = traceparent.get()
        # The flags' low bit clear ("00", or "02" with the SDK's random-id flag): the trace
        # is not sampled, and with a parent-based sampler neither is any span beneath it;
        # asking the SDK would cost a span that records nothing.
        if parent is not None and parent[-1] in _UNSAMPLED_LAST_DIGITS:
            # The SDK would only make a span that records nothing; the parent's
            # traceparent stays current (the same trace, not sampled).
            return NO_SPAN
        return _Scope(self._otel, name, attributes, start_ns)

    async def start(self) -> None:
        if self._provider is not None:
            return
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

        s = self._settings
        # A span under an unsampled parent never reaches the SDK (see `span`), so at
        # ratio 1 every span that does is sampled: no parent lookup needed for that.
        sampler = (
            ALWAYS_ON if s.sample_ratio >= 1.0 else ParentBased(TraceIdRatioBased(s.sample_ratio))
        )
        provider = TracerProvider(
            resource=_resource(Resource, s.service_name),
            sampler=sampler,
            # Shut down in `stop`, bounded; an exit hook of its own could hang on a dead
            # collector after the daemon is done.
            shutdown_on_exit=False,
        )
        exporter = OTLPSpanExporter(endpoint=s.otlp_endpoint, timeout=s.export_timeout_seconds)
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=_MAX_QUEUE_SIZE,
                max_export_batch_size=_MAX_EXPORT_BATCH_SIZE,
                schedule_delay_millis=_SCHEDULE_DELAY_MILLIS,
                export_timeout_millis=int(s.export_timeout_seconds * 1000),
            )
        )
        self._provider = provider
        self._otel = _Otel(provider.get_tracer("minibot"))
        queue_log = logging.getLogger("opentelemetry.sdk._shared_internal")
        if not any(isinstance(f, _QueueFullOncePerInterval) for f in queue_log.filters):
            queue_log.addFilter(_QueueFullOncePerInterval())
        # Host and port only: a URL may carry credentials.
        where = urlsplit(s.otlp_endpoint)
        log.info("tracing to OTLP", extra={"collector": f"{where.hostname}:{where.port or ''}"})

    async def stop(self) -> None:
        provider, self._provider = self._provider, None
        self._otel = None
        if provider is None:
            return
        # The last batch goes out in the SDK's thread, bounded: a dead collector must not
        # hold up the shutdown.
        # A daemon thread, not the loop's executor: asyncio.run would wait for that one.
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def shut_down() -> None:
            try:
                provider.shutdown()
            finally:
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(_settle, done)

        threading.Thread(target=shut_down, name="otel-shutdown", daemon=True).start()
        try:
            await asyncio.wait_for(done, self._settings.export_timeout_seconds + 1)
        except TimeoutError:
            log.warning("tracing: the last spans were not exported before shutdown")


def _resource(resource_type: Any, service_name: str) -> Any:
    """The SDK's resource for `service_name`, hashed once: the exporter groups every span
    by its resource, and the SDK's hash dumps the resource's attributes to JSON each time
    (a sixth of the cost of encoding a span)."""

    class _HashedOnce(resource_type):  # type: ignore[misc]
        _hash: int | None = None

        def __hash__(self) -> int:
            if self._hash is None:
                self._hash = super().__hash__()
            return self._hash

    created = resource_type.create({"service.name": service_name})
    return _HashedOnce(created.attributes, created.schema_url)


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
