"""Traces over OTLP/HTTP to a fake collector: one trace per message, one tree from the
update's receipt through the model to the chunk sent, its ids in the log lines; and a
broken collector that neither slows nor breaks the answers."""

from __future__ import annotations

import re
import time
from pathlib import Path

from tests.adapters.observability.harness import OWNER, running, telegram_config, until
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.otlp_collector import FakeOtlpCollector, ReceivedSpan
from tests.fakes.telegram_server import FakeTelegramServer


def tracing(collector: FakeOtlpCollector, extra: str = "") -> str:
    return f"""
[tracing]
enabled = true
otlp_endpoint = "{collector.endpoint}"
service_name = "minibot-test"
export_timeout_seconds = 2
{extra}
"""


def message_traces(collector: FakeOtlpCollector) -> dict[str, list[ReceivedSpan]]:
    return {
        trace_id: spans
        for trace_id, spans in collector.traces().items()
        if any(s.name == "message.receive" for s in spans)
    }


def complete(spans: list[ReceivedSpan]) -> bool:
    return {"message.receive", "turn", "llm.request", "chunk.send"} <= {s.name for s in spans}


def chain(spans: list[ReceivedSpan], leaf: ReceivedSpan) -> list[str]:
    """Names from the root down to `leaf`."""
    by_id = {s.span_id: s for s in spans}
    names = [leaf.name]
    span = leaf
    while span.parent_span_id:
        span = by_id[span.parent_span_id]
        names.append(span.name)
    return names[::-1]


async def test_each_message_is_one_trace_from_receipt_through_the_model_to_the_send(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    collector = await FakeOtlpCollector().start()
    try:
        async with FakeTelegramServer() as tg:
            config = telegram_config(tmp_path, fake_llm, tg, extra=tracing(collector))
            async with running(config) as app:
                tg.enqueue_text(OWNER, OWNER, "secret words one")
                tg.enqueue_text(OWNER, OWNER + 1000, "ignored: not allowed")  # no trace
                await until(lambda: len(tg.messages_to(OWNER)) >= 1)
                tg.enqueue_text(OWNER, OWNER, "secret words two")
                await until(lambda: len(tg.messages_to(OWNER)) >= 2)
                await collector.wait_for(
                    lambda: (
                        len(message_traces(collector)) == 2
                        and all(complete(s) for s in message_traces(collector).values())
                    )
                )
                log = app.log.getvalue()
    finally:
        await collector.stop()

    traces = message_traces(collector)
    assert len(traces) == 2, "one trace per message"
    for trace_id, spans in traces.items():
        roots = [s for s in spans if not s.parent_span_id]
        assert [r.name for r in roots] == ["message.receive"], "one root per trace"
        ids = {s.span_id for s in spans}
        assert all(s.parent_span_id in ids for s in spans if s.parent_span_id), "one tree"
        assert all(s.service == "minibot-test" for s in spans)
        [llm] = [s for s in spans if s.name == "llm.request"]
        assert chain(spans, llm)[:1] == ["message.receive"] and "turn" in chain(spans, llm)
        assert llm.attributes["model"] == "fake-model" and llm.attributes["attempt"] == 1
        assert llm.attributes["tokens.prompt"] > 0
        [send] = [s for s in spans if s.name == "chunk.send"]
        assert chain(spans, send)[0] == "message.receive"
        [receive] = [s for s in spans if s.name == "message.receive"]
        assert ("inbox.store", {"duplicate": False}) in receive.events, "the write, as an event"
        # No message text in spans unless include_content is set.
        assert not any("secret words" in str(v) for s in spans for v in s.attributes.values())
        # The log lines written inside the trace carry its ids.
        lines = [line for line in log.splitlines() if f"trace_id={trace_id}" in line]
        assert any("message received" in line for line in lines), log
        assert all(re.search(r"span_id=[0-9a-f]{16}", line) for line in lines)
        span_ids = {m for line in lines for m in re.findall(r"span_id=([0-9a-f]{16})", line)}
        assert span_ids <= ids


async def test_with_include_content_the_text_is_in_the_spans(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    collector = await FakeOtlpCollector().start()
    try:
        async with FakeTelegramServer() as tg:
            extra = tracing(collector, "include_content = true")
            config = telegram_config(tmp_path, fake_llm, tg, extra=extra)
            async with running(config):
                tg.enqueue_text(OWNER, OWNER, "show me")
                await until(lambda: len(tg.messages_to(OWNER)) >= 1)
                await collector.wait_for(
                    lambda: any(complete(s) for s in message_traces(collector).values())
                )
    finally:
        await collector.stop()
    [spans] = message_traces(collector).values()
    [receive] = [s for s in spans if s.name == "message.receive"]
    [send] = [s for s in spans if s.name == "chunk.send"]
    assert receive.attributes["text"] == "show me"
    assert send.attributes["text"] == "echo: show me"


async def test_a_broken_collector_neither_slows_nor_breaks_the_answers(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    # It takes 3 s to answer each export, and then refuses it.
    collector = await FakeOtlpCollector(broken=True, delay_seconds=3.0).start()
    try:
        async with FakeTelegramServer() as tg:
            config = telegram_config(tmp_path, fake_llm, tg, extra=tracing(collector))
            async with running(config) as app:
                latencies = []
                for n in range(12):
                    started = time.perf_counter()
                    tg.enqueue_text(OWNER, OWNER, f"message {n}")
                    await until(lambda n=n: len(tg.messages_to(OWNER)) >= n + 1)
                    latencies.append(time.perf_counter() - started)
                    if n == 5:
                        await until(lambda: collector.requests >= 1)  # exports are failing now
                assert app.daemon.health.state == "ready"
                stopping = time.perf_counter()
            stopped_in = time.perf_counter() - stopping
    finally:
        await collector.stop()
    assert [m.text for m in tg.messages_to(OWNER)] == [f"echo: message {n}" for n in range(12)]
    # Long polling answers in well under a second here; an export waited for would take 3.
    assert max(latencies[6:]) < 2.0, latencies
    assert stopped_in < 2 + 1 + 5, "the last export is bounded by its timeout at shutdown"


async def test_a_scheduled_run_is_a_trace_of_its_own_down_to_the_chunk_sent(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    collector = await FakeOtlpCollector().start()

    def run_traces() -> list[list[ReceivedSpan]]:
        return [
            spans
            for spans in collector.traces().values()
            if any(s.name == "job.run" and not s.parent_span_id for s in spans)
        ]

    try:
        async with FakeTelegramServer() as tg:
            config = telegram_config(tmp_path, fake_llm, tg, extra=tracing(collector))
            async with running(config):
                tg.enqueue_text(OWNER, OWNER, "/remind in 1 second stretch")
                await until(lambda: any("stretch" in m.text for m in tg.messages_to(OWNER)[1:]))
                await collector.wait_for(
                    lambda: any("chunk.send" in {s.name for s in t} for t in run_traces())
                )
    finally:
        await collector.stop()
    [spans] = run_traces()
    [run] = [s for s in spans if s.name == "job.run"]
    [send] = [s for s in spans if s.name == "chunk.send"]
    assert run.attributes["kind"] == "reminder"
    assert chain(spans, send)[0] == "job.run"
