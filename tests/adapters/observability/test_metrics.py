"""The metrics' pieces on their own: the inbox backlog gauge, /metrics on a listener of
its own, render_metrics for the control plane, and the usage ledger counted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from minibot.adapters.config.schema import Settings
from minibot.adapters.container import Container
from minibot.adapters.observability.metered_usage import MeteredUsageLedger
from minibot.adapters.observability.metrics import Metrics
from minibot.adapters.observability.metrics_service import MetricsService
from minibot.core.conversation import ConversationKey
from minibot.core.usage import UsageRecord
from tests.fakes.memory import InMemoryInbox, InMemoryUsageLedger


def sample(body: bytes, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


async def test_the_inbox_backlog_is_read_per_channel_and_served_on_its_own_listener() -> None:
    inbox = InMemoryInbox()
    await inbox.add("telegram", "1", "telegram:1", "{}")
    await inbox.add("telegram", "2", "telegram:1", "{}")
    done = await inbox.add("telegram", "3", "telegram:2", "{}")
    assert done is not None
    await inbox.mark_done(done)
    metrics = Metrics(lambda: datetime.now(UTC), channels=["telegram", "slack"])
    service = MetricsService(
        metrics,
        inbox=inbox,
        channels=["telegram", "slack"],
        poll_seconds=60,
        listen=("127.0.0.1", 0),
    )
    await service.start()
    try:
        await service.poll_inbox()
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{service.port}/metrics") as response,
        ):
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            body = await response.read()
    finally:
        await service.stop()
        await service.stop()  # twice is safe
    assert sample(body, "minibot_inbox_pending", channel="telegram") == 2
    assert sample(body, "minibot_inbox_pending", channel="slack") == 0


async def test_usage_records_add_tokens_and_cost_per_model() -> None:
    metrics = Metrics(lambda: datetime.now(UTC), models=["m1"])
    inner = InMemoryUsageLedger()
    ledger = MeteredUsageLedger(inner, metrics)
    at = datetime.now(UTC)
    for prompt, completion, cost in ((10, 5, 0.25), (20, 1, 0.5)):
        record = UsageRecord(
            "o", ConversationKey("telegram", "1"), "m2", prompt, completion, cost, False, at
        )
        await ledger.record(record)
    assert (await ledger.totals("o")).requests == 2, "written through"
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    assert sample(body, "minibot_llm_tokens_total", model="m2", kind="prompt") == 30
    assert sample(body, "minibot_llm_tokens_total", model="m2", kind="completion") == 6
    assert sample(body, "minibot_llm_cost_usd_total", model="m2") == 0.75
    assert sample(body, "minibot_llm_tokens_total", model="m1", kind="prompt") == 0, "known at zero"


def test_the_container_renders_metrics_for_the_control_plane_only_when_enabled(
    tmp_path: Path,
) -> None:
    def settings(enabled: bool) -> Settings:
        return Settings.model_validate(
            {
                "memory": {"url": f"sqlite+aiosqlite:///{tmp_path}/m.db"},
                "scheduler": {"store_path": str(tmp_path / "tasks")},
                "metrics": {"enabled": enabled},
            }
        )

    off = Container(settings(False), mode="console")
    off.build()
    assert off.metrics is None and off.metrics_service is None
    on = Container(settings(True), mode="console")
    on.build()
    body, content_type = on.render_metrics()
    assert sample(body, "minibot_messages_received_total", channel="console") == 0
    assert content_type.startswith("text/plain")
