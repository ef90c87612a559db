"""The alert hook through the container's wiring: a burst of model failures sends one
alert to the admin chat on the fake Bot API, and one resolution at the next answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.adapters.observability.harness import OWNER, running, telegram_config, until
from tests.fakes.openai_server import FakeOpenAIServer, Script
from tests.fakes.telegram_server import FakeTelegramServer

ADMIN = 777


class Webhook:
    """A loopback receiver of the alert webhook's POSTs."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        async def receive(request: web.Request) -> web.Response:
            self.bodies.append(json.loads(await request.read()))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook/t0k3n", receive)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_a_burst_of_model_failures_sends_one_alert_and_one_resolution(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    webhook = Webhook()
    await webhook.start()
    url = f"http://127.0.0.1:{webhook.port}/hook/t0k3n"
    alerts = f"""
[alerts]
enabled = true
telegram_chat_id = {ADMIN}
webhook_url = "{url}"
model_failures = 3
window_seconds = 300
"""
    try:
        async with FakeTelegramServer() as tg:
            config = telegram_config(tmp_path, fake_llm, tg, extra=alerts)
            async with running(config) as app:
                # Four turns fail (three attempts each); the third raises the alert.
                for n in range(4):
                    fake_llm.script(*[Script.error(500)] * 3)
                    tg.enqueue_text(OWNER, OWNER, f"failing {n}")
                    await until(lambda n=n: len(tg.messages_to(OWNER)) >= n + 1)
                    if n == 1:
                        await asyncio.sleep(0.3)
                        assert tg.messages_to(ADMIN) == [], "two failures are not a burst"
                await until(lambda: len(tg.messages_to(ADMIN)) >= 1)
                # The next answer resolves it.
                tg.enqueue_text(OWNER, OWNER, "working again?")
                await until(lambda: len(tg.messages_to(ADMIN)) >= 2)
                tg.enqueue_text(OWNER, OWNER, "and again")
                await until(lambda: len(tg.messages_to(OWNER)) >= 6)
                await until(lambda: len(webhook.bodies) >= 2)
                await asyncio.sleep(0.3)
                log = app.log.getvalue()
    finally:
        await webhook.stop()

    sent = [m.text for m in tg.messages_to(ADMIN)]
    assert len(sent) == 2, sent
    assert sent[0].startswith("ALERT (minibot): the model failed 3 turns within 300 seconds")
    assert sent[1].startswith("RESOLVED (minibot): the model answers again")
    assert [(b["status"], b["alert"]) for b in webhook.bodies] == [
        ("firing", "model"),
        ("resolved", "model"),
    ]
    assert "t0k3n" not in log, "the webhook URL is a secret"
