"""The daemon in process with the control plane on, over the fake Bot API and fake LLM."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from minibot.adapters.config.schema import Settings
from minibot.adapters.container import Container
from minibot.app.daemon import Daemon
from tests.adapters.messaging.telegram.conftest import free_port
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_server import DEFAULT_TOKEN, FakeTelegramServer

TOKEN = "cp-test-token-0123456789"
OWNER = 42  # the Telegram user (and private chat) allowed to talk to the bot


@dataclass
class Running:
    daemon: Daemon
    base_url: str
    telegram: FakeTelegramServer
    llm: FakeOpenAIServer
    settings: Settings

    def client(self, *, token: str | None = TOKEN, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=10, **kwargs)


def settings_for(
    tmp_path: Path, telegram: FakeTelegramServer, llm: FakeOpenAIServer, **control: Any
) -> Settings:
    tools = control.pop("tools", {})
    media = control.pop("media", {})
    mcp = control.pop("mcp", {})
    return Settings.model_validate(
        {
            "tools": tools,
            "media": media,
            "mcp": mcp,
            "daemon": {"shutdown_timeout_seconds": 5},
            "llm": {
                "provider": "openai",
                "model": "fake-model",
                "api_key": "sk-test-key-0123456789abcdef",
                "base_url": llm.base_url,
                "request_timeout_seconds": 2,
                "total_deadline_seconds": 8,
                "max_attempts": 2,
                "retry_initial_delay_seconds": 0.01,
                "retry_max_delay_seconds": 0.05,
                "stream": control.pop("stream", False),
            },
            "memory": {"url": f"sqlite+aiosqlite:///{tmp_path}/minibot.db"},
            "scheduler": {"store_path": str(tmp_path / "tasks")},
            "channels": {
                "telegram": {
                    "enabled": True,
                    "bot_token": DEFAULT_TOKEN,
                    "api_base": telegram.base_url,
                    "allowed_user_ids": [OWNER],
                    "polling_timeout_seconds": 1,
                }
            },
            "control_plane": {
                "enabled": True,
                "listen_port": free_port(),
                "token": TOKEN,
                "upload_path": str(tmp_path / "web-uploads"),
                **control,
            },
        }
    )


@contextlib.asynccontextmanager
async def running_daemon(tmp_path: Path, **control: Any) -> AsyncIterator[Running]:
    telegram = FakeTelegramServer()
    llm = FakeOpenAIServer()
    await telegram.start()
    await llm.start()
    settings = settings_for(tmp_path, telegram, llm, **control)
    daemon = Container(settings).build()
    task = asyncio.create_task(daemon.run())
    base_url = f"http://127.0.0.1:{settings.control_plane.listen_port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=2) as probe:
            async with asyncio.timeout(30):
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await probe.get("/readyz")).status_code == 200:
                            break
                    if task.done():
                        raise RuntimeError(f"the daemon ended at start: {task.result()}")
                    await asyncio.sleep(0.05)
        yield Running(daemon, base_url, telegram, llm, settings)
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)
        await llm.stop()
        await telegram.stop()
