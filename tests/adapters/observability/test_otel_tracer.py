"""The OpenTelemetry tracer on its own, exporting to the fake collector: a traceparent
carried from another process parents the span; children nest; a failure marks the span;
log lines inside carry the ids; the SDK is not loaded until tracing starts."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import pytest

from minibot.adapters.config.schema import LoggingSettings, TracingSettings
from minibot.adapters.logging.setup import configure_logging
from minibot.adapters.observability.otel_tracer import OtelTracer
from minibot.shared.trace_context import traced, traceparent
from tests.fakes.otlp_collector import FakeOtlpCollector

REMOTE_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
REMOTE_SPAN = "00f067aa0ba902b7"


async def test_a_carried_traceparent_parents_the_spans_and_the_log_lines_carry_ids() -> None:
    collector = await FakeOtlpCollector().start()
    tracer = OtelTracer(TracingSettings(enabled=True, otlp_endpoint=collector.endpoint))
    stream = io.StringIO()
    handler = configure_logging(LoggingSettings(), stream=stream)
    await tracer.start()
    try:
        with traced(f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-01"):
            with tracer.span("turn", {"channel": "telegram"}) as turn:
                turn.set("ok", True)
                with tracer.span("llm.request"):
                    inner = traceparent.get()
                    logging.getLogger("minibot.test").info("asking the model")
            with pytest.raises(ValueError), tracer.span("tool.call"):
                raise ValueError("bad arguments")
        assert traceparent.get() is None, "restored after the spans"
    finally:
        await tracer.stop()
        await tracer.stop()
        logging.getLogger().removeHandler(handler)
        await collector.stop()
    spans = {s.name: s for s in collector.spans}
    assert set(spans) == {"turn", "llm.request", "tool.call"}, "stop exported the last batch"
    assert {s.trace_id for s in spans.values()} == {REMOTE_TRACE}
    assert spans["turn"].parent_span_id == REMOTE_SPAN
    assert spans["tool.call"].parent_span_id == REMOTE_SPAN
    assert spans["llm.request"].parent_span_id == spans["turn"].span_id
    assert spans["turn"].attributes == {"channel": "telegram", "ok": True}
    assert spans["tool.call"].failed and not spans["turn"].failed
    assert inner == f"00-{REMOTE_TRACE}-{spans['llm.request'].span_id}-01"
    [line] = [line for line in stream.getvalue().splitlines() if "asking the model" in line]
    assert f"trace_id={REMOTE_TRACE}" in line
    assert f"span_id={spans['llm.request'].span_id}" in line


async def test_an_unsampled_parent_is_followed_and_nothing_is_exported() -> None:
    collector = await FakeOtlpCollector().start()
    tracer = OtelTracer(TracingSettings(enabled=True, otlp_endpoint=collector.endpoint))
    await tracer.start()
    try:
        with traced(f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-00"), tracer.span("turn"):
            assert (traceparent.get() or "").endswith("-00")
        with tracer.span("kept"):
            pass
    finally:
        await tracer.stop()
        await collector.stop()
    assert [s.name for s in collector.spans] == ["kept"]


async def test_an_event_is_exported_on_its_span_at_the_time_it_was_noted() -> None:
    collector = await FakeOtlpCollector().start()
    tracer = OtelTracer(TracingSettings(enabled=True, otlp_endpoint=collector.endpoint))
    await tracer.start()
    try:
        with tracer.span("message.receive") as receive:
            receive.event("inbox.store", {"duplicate": False})
            with tracer.span("turn"):
                pass
    finally:
        await tracer.stop()
        await collector.stop()
    spans = {s.name: s for s in collector.spans}
    assert set(spans) == {"message.receive", "turn"}, "an event is no span of its own"
    assert spans["message.receive"].events == (("inbox.store", {"duplicate": False}),)
    assert spans["turn"].events == ()


async def test_under_an_unsampled_parent_the_sdk_makes_no_span_and_the_ids_stay() -> None:
    collector = await FakeOtlpCollector().start()
    tracer = OtelTracer(TracingSettings(enabled=True, otlp_endpoint=collector.endpoint))
    await tracer.start()
    parent = f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-00"
    try:
        with traced(parent), tracer.span("turn") as turn, tracer.span("llm.request") as llm:
            turn.set("ok", True)
            llm.event("retry")
            # Log lines inside still carry the trace: the parent's ids.
            assert traceparent.get() == parent
    finally:
        await tracer.stop()
        await collector.stop()
    assert collector.spans == []


async def test_the_sample_ratio_is_honoured_for_new_traces() -> None:
    collector = await FakeOtlpCollector().start()
    tracer = OtelTracer(
        TracingSettings(enabled=True, otlp_endpoint=collector.endpoint, sample_ratio=0.25)
    )
    await tracer.start()
    sampled = 0
    try:
        for _ in range(400):
            with tracer.span("message.receive"), tracer.span("turn"):
                flags = int((traceparent.get() or "00")[-2:], 16)
                sampled += flags & 1
    finally:
        await tracer.stop()
        await collector.stop()
    roots = [s for s in collector.spans if s.name == "message.receive"]
    # 400 draws at 1/4: 100 expected; 50..150 is more than 7 standard deviations wide.
    assert 50 <= len(roots) <= 150
    assert len(roots) == sampled, "a sampled trace is exported whole, an unsampled not at all"
    assert len(collector.spans) == 2 * len(roots)


def test_the_daemon_does_not_load_opentelemetry_or_prometheus_when_both_are_off() -> None:
    code = (
        "import sys\n"
        "from minibot.adapters.config.schema import Settings\n"
        "from minibot.adapters.container import Container\n"
        "Container(Settings(), mode='console').build()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'prometheus'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout
