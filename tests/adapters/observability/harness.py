"""The whole daemon in process (the container's wiring) on the fake Bot API, the fake
LLM and, when asked, the fake OTLP collector: for the observability tests."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from minibot.adapters.config.loader import load_settings
from minibot.adapters.container import Container
from minibot.adapters.logging.setup import configure_logging
from minibot.app.daemon import Daemon
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_server import DEFAULT_TOKEN, FakeTelegramServer

OWNER = 42


def telegram_config(
    tmp_path: Path, llm: FakeOpenAIServer, telegram: FakeTelegramServer, extra: str = ""
) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[daemon]
shutdown_timeout_seconds = 5

[llm]
provider = "openai"
model = "fake-model"
api_key = "sk-test-key-0123456789abcdef"
base_url = "{llm.base_url}"
request_timeout_seconds = 2
total_deadline_seconds = 8
max_attempts = 3
retry_initial_delay_seconds = 0.01
retry_max_delay_seconds = 0.05

[memory]
url = "sqlite+aiosqlite:///{tmp_path}/minibot.db"

[scheduler]
store_path = "{tmp_path}/tasks"

[channels.telegram]
enabled = true
bot_token = "{DEFAULT_TOKEN}"
api_base = "{telegram.base_url}"
allowed_user_ids = [{OWNER}]
polling_timeout_seconds = 1
{extra}
"""
    )
    return path


@dataclass
class Running:
    container: Container
    daemon: Daemon
    log: io.StringIO

    @property
    def metrics_url(self) -> str:
        service = self.container.metrics_service
        assert service is not None and service.port is not None
        return f"http://127.0.0.1:{service.port}/metrics"

    async def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics, parsed by the Prometheus client's own parser."""
        async with aiohttp.ClientSession() as session, session.get(self.metrics_url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def until(predicate: Callable[[], bool], limit_seconds: float = 15.0) -> None:
    """Poll a condition on the fakes' records, with an upper bound."""
    async with asyncio.timeout(limit_seconds):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(config: Path) -> AsyncIterator[Running]:
    """The daemon built by the container from `config`, its log captured."""
    settings = load_settings(config)
    container = Container(settings)
    log = io.StringIO()
    handler = configure_logging(settings.logging, container.secrets(), stream=log)
    daemon = container.build()
    task = asyncio.create_task(daemon.run())
    try:
        service = container.metrics_service
        await until(
            lambda: (
                (service is None or service.port is not None) and daemon.health.state == "ready"
            ),
            60,
        )
        yield Running(container, daemon, log)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 20)
        logging.getLogger().removeHandler(handler)
