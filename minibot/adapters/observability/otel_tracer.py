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
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from minibot.adapters.config.schema import TracingSettings
from minibot.core.ports.tracer import AttributeValue
from minibot.core.tracing import NO_TRACER
from minibot.shared.trace_context import trace_ids, traceparent

log = logging.getLogger(__name__)

# Spans wait at most this long in memory before a batch goes out.
_SCHEDULE_DELAY_MILLIS = 1000
_MAX_QUEUE_SIZE = 4096


class _Scope:
    """One span from `__enter__` to `__exit__`, current (as the traceparent) in between."""

    __slots__ = ("_attributes", "_name", "_span", "_start_ns", "_token", "_tracer")

    def __init__(
        self,
        tracer: Any,
        name: str,
        attributes: Mapping[str, AttributeValue] | None,
        start_ns: int | None,
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._attributes = attributes
        self._start_ns = start_ns
        self._span: Any = None
        self._token: Any = None

    def set(self, key: str, value: AttributeValue) -> None:
        self._span.set_attribute(key, value)

    def __enter__(self) -> _Scope:
        span = self._tracer.start_span(
            self._name,
            context=_parent_context(traceparent.get()),
            attributes=self._attributes,
            start_time=self._start_ns,
        )
        context = span.get_span_context()
        self._span = span
        self._token = traceparent.set(
            f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        traceparent.reset(self._token)
        if exc is not None and not isinstance(exc, asyncio.CancelledError | GeneratorExit):
            from opentelemetry.trace import Status, StatusCode

            self._span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        self._span.end()


def _parent_context(value: str | None) -> Any:
    from opentelemetry import trace
    from opentelemetry.context import Context

    ids = trace_ids(value)
    if ids is None or value is None:
        return Context()  # a new trace
    trace_id, span_id = ids
    try:
        parent = trace.SpanContext(
            trace_id=int(trace_id, 16),
            span_id=int(span_id, 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(int(value[53:55], 16)),
        )
    except ValueError:
        return Context()
    return trace.set_span_in_context(trace.NonRecordingSpan(parent), Context())


class OtelTracer:
    """A `Tracer` (see the port) whose spans are batched and exported by a thread of the
    SDK's: a slow or broken collector costs the event loop nothing, and spans it cannot
    take are dropped once the queue is full (never waited for)."""

    name = "tracing"

    def __init__(self, settings: TracingSettings) -> None:
        self._settings = settings
        self._provider: Any = None
        self._tracer: Any = None

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
        if self._tracer is None:
            return NO_TRACER.span(name)
        return _Scope(self._tracer, name, attributes, start_ns)

    async def start(self) -> None:
        if self._provider is not None:
            return
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        s = self._settings
        provider = TracerProvider(
            resource=Resource.create({"service.name": s.service_name}),
            sampler=ParentBased(TraceIdRatioBased(s.sample_ratio)),
            # Shut down in `stop`, bounded; an exit hook of its own could hang on a dead
            # collector after the daemon is done.
            shutdown_on_exit=False,
        )
        exporter = OTLPSpanExporter(endpoint=s.otlp_endpoint, timeout=s.export_timeout_seconds)
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=_MAX_QUEUE_SIZE,
                schedule_delay_millis=_SCHEDULE_DELAY_MILLIS,
                export_timeout_millis=int(s.export_timeout_seconds * 1000),
            )
        )
        self._provider = provider
        self._tracer = provider.get_tracer("minibot")
        log.info("tracing to OTLP", extra={"endpoint": s.otlp_endpoint})

    async def stop(self) -> None:
        provider, self._provider = self._provider, None
        self._tracer = None
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


def _settle(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
