"""A loopback fake of an OpenTelemetry collector's OTLP/HTTP traces endpoint: decodes the
protobuf requests the real exporter sends and keeps the spans."""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

PATH = "/v1/traces"


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    attributes: dict[str, Any]
    service: str
    start_ns: int
    end_ns: int
    failed: bool
    # (name, attributes) of each span event, in order.
    events: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass
class FakeOtlpCollector:
    """Serves POST /v1/traces. `broken` answers 503 after `delay_seconds` (a collector
    that is down or overloaded); requests are counted either way."""

    host: str = "127.0.0.1"
    port: int = 0
    broken: bool = False
    delay_seconds: float = 0.0
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}{PATH}"

    async def start(self) -> FakeOtlpCollector:
        app = web.Application()
        app.router.add_post(PATH, self._export)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _export(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.broken:
            return web.Response(status=503, text="collector unavailable")
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if request.content_type != "application/x-protobuf":
            return web.Response(status=415, text=f"not protobuf: {request.content_type}")
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource_spans in export.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            name=span.name,
                            attributes=_attributes(span.attributes),
                            service=str(resource.get("service.name", "")),
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            failed=span.status.code == 2,
                            events=tuple(
                                (event.name, _attributes(event.attributes)) for event in span.events
                            ),
                        )
                    )
        self._arrived.set()
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    def traces(self) -> dict[str, list[ReceivedSpan]]:
        by_trace: dict[str, list[ReceivedSpan]] = {}
        for span in self.spans:
            by_trace.setdefault(span.trace_id, []).append(span)
        return by_trace

    async def wait_for(self, predicate: Any, limit_seconds: float = 15.0) -> None:
        async with asyncio.timeout(limit_seconds):
            while not predicate():
                self._arrived.clear()
                await self._arrived.wait()


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)
