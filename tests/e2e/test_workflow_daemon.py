"""Workflows end to end: `minibot` on the fake Bot API and LLM runs a scheduled workflow
that fetches a page from allowed_hosts, asks the model and sends the answer; a step set
to confirm waits for the owner's press."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e.test_group_approval_daemon import button_data
from tests.e2e.test_telegram_daemon import (
    OWNER,
    Daemon,
    query,
    telegram_config,
    texts,
    until,
    until_true,
)
from tests.fakes.openai_server import FakeOpenAIServer, Script
from tests.fakes.telegram_server import FakeTelegramServer
from tests.fakes.web_server import LoopbackSite

NEWS = b"<html><title>News</title><body><p>Flour prices fell by half.</p></body></html>"


@pytest_asyncio.fixture
async def fake_tg() -> AsyncIterator[FakeTelegramServer]:
    async with FakeTelegramServer() as server:
        yield server


@pytest_asyncio.fixture
async def site() -> AsyncIterator[LoopbackSite]:
    s = LoopbackSite({"/news": (200, {"Content-Type": "text/html"}, NEWS)})
    await s.start()
    yield s
    await s.stop()


def workflows(site: LoopbackSite) -> str:
    return f"""
[tools.web]
enabled = true
allowed_hosts = ["127.0.0.1:{site.port}"]

[tools.code]
enabled = true
timeout_seconds = 5

[tools.permissions]
run_code = "confirm"

[workflows.digest]
description = "the news in one line"

[[workflows.digest.steps]]
kind = "fetch"
name = "page"
url = "{site.url}/news"

[[workflows.digest.steps]]
kind = "ask"
name = "summary"
prompt = "Summarise in one line: {{page.text}}"

[[workflows.digest.steps]]
kind = "send"
text = "Digest: {{summary}}"

[workflows.sum]

[[workflows.sum.steps]]
kind = "run_code"
name = "calc"
code = "print(sum(range(10)))"

[[workflows.sum.steps]]
kind = "send"
text = "The sum is {{calc.stdout}}"
"""


@pytest_asyncio.fixture
async def daemon(
    tmp_path: Path, fake_llm: FakeOpenAIServer, fake_tg: FakeTelegramServer, site: LoopbackSite
) -> AsyncIterator[Daemon]:
    config = telegram_config(tmp_path, fake_llm, fake_tg, extra=workflows(site))
    started = Daemon(config, tmp_path / "daemon.log", {"MINIBOT_SCHEDULER__STORE": "sql"})
    await started.start()
    try:
        yield started
        assert await started.stop() == 0, started.log()[-3000:]
    finally:
        if started.alive:
            await started.kill()


@pytest.mark.slow
async def test_a_scheduled_workflow_fetches_asks_and_sends(
    tmp_path: Path,
    daemon: Daemon,
    fake_llm: FakeOpenAIServer,
    fake_tg: FakeTelegramServer,
    site: LoopbackSite,
) -> None:
    tg = fake_tg
    fake_llm.script(Script.reply("Flour is cheap now."))
    tg.enqueue_text(OWNER, OWNER, "/run digest")
    # A generous bound: under load the daemon takes long to start (aiogram imports).
    await until(daemon, tg, lambda: len(texts(tg, OWNER)) >= 2, 120)
    assert texts(tg, OWNER)[0].startswith("Workflow digest is starting")
    assert texts(tg, OWNER)[1] == "Digest: Flour is cheap now."
    assert site.requests == ["/news"]
    prompt = fake_llm.requests[-1].body["messages"][-1]["content"]
    assert prompt == "Summarise in one line: Flour prices fell by half."

    def ledger() -> list[tuple[str, str]]:
        return query(tmp_path, "SELECT outcome, reason FROM minibot_job_runs")  # type: ignore[return-value]

    await until_true(lambda: bool(ledger()))
    [(outcome, note)] = ledger()
    assert outcome == "delivered"
    assert note == (
        "workflow digest: 1. page [fetch]: ok; 2. summary [ask]: ok; 3. step3 [send]: ok"
    )


@pytest.mark.slow
async def test_a_workflow_step_set_to_confirm_waits_for_the_owners_press(
    tmp_path: Path, daemon: Daemon, fake_tg: FakeTelegramServer
) -> None:
    tg = fake_tg
    tg.enqueue_text(OWNER, OWNER, "/run sum")
    # A generous bound: under load the daemon takes long to start (aiogram imports).
    await until(daemon, tg, lambda: len(texts(tg, OWNER)) >= 2, 120)
    request = tg.messages_to(OWNER)[-1]
    assert "Workflow sum, step 1" in request.visible_text
    assert 'run_code {"code": "print(sum(range(10)))", "language": "python"}' in (
        request.visible_text
    )
    buttons = button_data(request.reply_markup)
    assert set(buttons) == {"Approve", "Deny"}
    assert query(tmp_path, "SELECT count(*) FROM minibot_job_runs WHERE outcome IS NOT NULL") == [
        (0,)
    ], "the run waits"

    tg.enqueue_callback(OWNER, OWNER, buttons["Approve"], message_id=request.message_id)
    await until(daemon, tg, lambda: len(texts(tg, OWNER)) >= 4)
    assert set(texts(tg, OWNER)[2:]) == {"Approved: the workflow goes on.", "The sum is 45\n"}


SAVED_WORKFLOW = {
    "name": "cheer",
    "description": "a joke to start the day",
    "steps": [
        {"kind": "ask", "name": "joke", "prompt": "Tell a short joke."},
        {"kind": "send", "text": "Morning! {joke}"},
    ],
}


@pytest.mark.slow
async def test_a_workflow_saved_through_the_tool_waits_for_approve_then_runs_with_run(
    tmp_path: Path, fake_llm: FakeOpenAIServer, fake_tg: FakeTelegramServer
) -> None:
    tg = fake_tg
    config = telegram_config(tmp_path, fake_llm, tg, extra="[tools.workflows]\nenabled = true\n")
    daemon = Daemon(config, tmp_path / "daemon.log", {})
    await daemon.start()
    try:
        fake_llm.script(
            Script.tool_call("save_workflow", json.dumps(SAVED_WORKFLOW)),
            Script.reply("Saved: /run cheer."),
            Script.reply("Why did the loaf rise? It kneaded to."),
        )
        tg.enqueue_text(OWNER, OWNER, "save me a morning joke workflow")
        await until(daemon, tg, lambda: bool(tg.messages_to(OWNER)), 120)
        request = tg.messages_to(OWNER)[-1]
        assert "save_workflow is set to confirm" in request.visible_text
        assert "Morning! {joke}" in request.visible_text
        assert query(tmp_path, "SELECT count(*) FROM minibot_owner_workflows") == [(0,)]

        buttons = button_data(request.reply_markup)
        tg.enqueue_callback(OWNER, OWNER, buttons["Approve"], message_id=request.message_id)
        await until(daemon, tg, lambda: "Saved: /run cheer." in texts(tg, OWNER))
        [(owner, name)] = query(tmp_path, "SELECT owner_id, name FROM minibot_owner_workflows")
        assert name == "cheer" and owner.endswith(str(OWNER))

        tg.enqueue_text(OWNER, OWNER, "/run cheer")
        await until(
            daemon, tg, lambda: "Morning! Why did the loaf rise? It kneaded to." in texts(tg, OWNER)
        )
        assert any(t.startswith("Workflow cheer is starting") for t in texts(tg, OWNER))
        assert fake_llm.requests[-1].body["messages"][-1]["content"] == "Tell a short joke."
        assert await daemon.stop() == 0, daemon.log()[-3000:]
    finally:
        if daemon.alive:
            await daemon.kill()
