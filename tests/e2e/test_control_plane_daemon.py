"""The control plane's messages across a crash: `minibot` as a subprocess, killed mid-turn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_telegram_daemon import (
    OWNER,
    asked,
    daemons,  # noqa: F401 (a fixture)
    fake_llm,  # noqa: F401 (a fixture)
    fake_tg,  # noqa: F401 (a fixture)
    free_port,
    query,
    telegram_config,
    texts,
    until,
    until_true,
)
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.telegram_server import FakeTelegramServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOKEN = "cp-e2e-token-0123456789"


async def _ready(base_url: str, daemon: Any) -> None:
    async def up() -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as probe:
                return (await probe.get(f"{base_url}/readyz")).status_code == 200
        except httpx.TransportError:
            return False

    for _ in range(600):
        if await up():
            return
        assert daemon.alive, daemon.log()[-3000:]
        await _pause()
    raise AssertionError("the control plane never became ready:\n" + daemon.log()[-3000:])


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_messages_posted_before_a_kill_are_answered_once_after_the_restart(
    tmp_path: Path,
    fake_llm: FakeOpenAIServer,  # noqa: F811
    fake_tg: FakeTelegramServer,  # noqa: F811
    daemons: Any,  # noqa: F811
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    config = telegram_config(
        tmp_path,
        fake_llm,
        fake_tg,
        extra=f'\n[control_plane]\nenabled = true\nlisten_port = {port}\ntoken = "{TOKEN}"\n',
    )
    # The model answers nothing in the first run: the daemon dies with both turns open.
    fake_llm.latency_ms = 120_000
    daemon = await daemons(config)
    await _ready(base_url, daemon)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=auth, timeout=10) as api:
        for _ in range(2):  # a client retrying the same POST
            web = await api.post(
                "/api/v1/chat/messages", json={"text": "web before the kill", "message_id": "w1"}
            )
            assert web.status_code == 202, web.text
            said = await api.post(
                f"/api/v1/conversations/telegram:{OWNER}/messages",
                json={"text": "api before the kill"},
                headers={"Idempotency-Key": "a1"},
            )
            assert said.status_code == 202, said.text
    # Both are stored (answered with 202 only after the inbox write), neither answered.
    stored = query(tmp_path, "SELECT channel, external_id, done FROM minibot_inbox")
    assert sorted(stored) == [("api", "telegram:42#a1", 0), ("web", "w1", 0)]
    await until_true(
        lambda: asked(fake_llm, "web before the kill") and asked(fake_llm, "api before the kill")
    )
    await daemon.kill()
    first_run = {
        text: asked(fake_llm, text) for text in ("web before the kill", "api before the kill")
    }
    assert texts(fake_tg, OWNER) == []

    fake_llm.latency_ms = 0
    daemon = await daemons(config)
    await _ready(base_url, daemon)
    await until(daemon, fake_tg, lambda: "echo: api before the kill" in texts(fake_tg, OWNER))
    async with httpx.AsyncClient(base_url=base_url, headers=auth, timeout=10) as api:

        async def web_replies() -> list[str]:
            answer = await api.get("/api/v1/chat/messages")
            return [reply["text"] for reply in answer.json()["replies"]]

        for _ in range(400):
            if "echo: web before the kill" in await web_replies():
                break
            await _pause()
        # The same POST once more after the restart: still the one answer.
        again = await api.post(
            "/api/v1/chat/messages", json={"text": "web before the kill", "message_id": "w1"}
        )
        assert again.status_code == 202
        await until_true(
            lambda: query(tmp_path, "SELECT count(*) FROM minibot_inbox WHERE NOT done") == [(0,)]
        )
        replies = await web_replies()
    assert await daemon.stop() == 0
    assert replies.count("echo: web before the kill") == 1, replies
    assert texts(fake_tg, OWNER).count("echo: api before the kill") == 1
    for text, before in first_run.items():
        assert asked(fake_llm, text) == before + 1, f"{text!r} asked once more after the restart"
    assert "api pending update republished" in daemon.log()
    assert "web pending update republished" in daemon.log()
