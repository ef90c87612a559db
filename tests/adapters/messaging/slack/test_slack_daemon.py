"""The Slack channel wired by the container: the whole daemon in process, on the fake Slack
Web API and the fake LLM (conversations, reminders with buttons, health)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from minibot.adapters.config.loader import load_settings
from minibot.adapters.container import Container
from minibot.app.daemon import Daemon
from minibot.core.health import HealthState
from tests.adapters.messaging.telegram.conftest import free_port
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.slack_server import (
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    FakeSlackServer,
    SignedEventSender,
)
from tests.process import write_config

pytestmark = pytest.mark.timeout(60)

OWNER = "U0000042"
DM = "D0000042"
ROOM = "C0000007"


@dataclass
class Running:
    daemon: Daemon
    events: SignedEventSender
    fake: FakeSlackServer
    llm: FakeOpenAIServer

    def say(self, text: str, **where: Any) -> dict[str, Any]:
        return self.events.message(text, user=OWNER, **({"channel": DM} | where))

    def slack_health(self) -> HealthState:
        return self.daemon.health.services["slack"].state


def slack_config(fake: FakeSlackServer, port: int) -> str:
    return f"""
[channels.slack]
enabled = true
bot_token = "{BOT_TOKEN}"
signing_secret = "{SIGNING_SECRET}"
api_base = "{fake.base_url}"
listen_port = {port}
allowed_user_ids = ["{OWNER}"]
allowed_channel_ids = ["{ROOM}"]
max_send_attempts = 3
"""


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackServer]:
    server = FakeSlackServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def running(
    tmp_path: Path, fake_slack: FakeSlackServer, fake_llm: FakeOpenAIServer
) -> AsyncIterator[Running]:
    port = free_port()
    config = write_config(tmp_path, fake_llm.base_url, slack_config(fake_slack, port))
    daemon = Container(load_settings(config)).build()
    task = asyncio.create_task(daemon.run())
    events = SignedEventSender(f"http://127.0.0.1:{port}/slack/events")
    try:
        await until(lambda: _ready(daemon) or task.done())
        assert not task.done(), "the daemon stopped at start"
        yield Running(daemon, events, fake_slack, fake_llm)
    finally:
        daemon.request_stop()
        with contextlib.suppress(Exception):
            assert await asyncio.wait_for(task, 20) == 0


def _ready(daemon: Daemon) -> bool:
    slack = daemon.health.services.get("slack")
    return slack is not None and slack.state is HealthState.READY


async def until(predicate: Callable[[], bool], timeout: float = 20.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def prompt_of(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content")) for m in body["messages"])


async def test_a_thread_keeps_its_own_history_apart_from_the_dm(running: Running) -> None:
    fake, llm = running.fake, running.llm
    await running.events.event(running.say("my locker is 4711"))
    await until(lambda: len(fake.messages_in(DM)) == 1)
    opener = running.say(f"<@{BOT_USER_ID}> plan the offsite", channel=ROOM, channel_type="channel")
    thread = opener["event"]["ts"]
    await running.events.event(opener)
    await until(lambda: len(fake.messages_in(ROOM, thread)) == 1)
    follow = running.say("and the budget?", channel=ROOM, channel_type="channel", thread_ts=thread)
    await running.events.event(follow)
    await until(lambda: len(fake.messages_in(ROOM, thread)) == 2)
    await running.events.event(running.say("what is my locker?"))
    await until(lambda: len(fake.messages_in(DM)) == 2)

    prompts = {r.body["messages"][-1]["content"]: prompt_of(r.body) for r in llm.requests}
    assert "4711" not in prompts["plan the offsite"]
    # The thread's second turn sees its first, and nothing of the DM.
    assert "plan the offsite" in prompts["and the budget?"]
    assert "4711" not in prompts["and the budget?"]
    # The DM's second turn sees the DM, and nothing of the thread.
    assert "4711" in prompts["what is my locker?"]
    assert "offsite" not in prompts["what is my locker?"]
    assert [m.visible_text for m in fake.messages_in(ROOM, thread)] == [
        "echo: plan the offsite",
        "echo: and the budget?",
    ]


async def test_a_reminder_made_in_a_thread_comes_back_there_with_its_buttons(
    running: Running,
) -> None:
    fake = running.fake
    opener = running.say(
        f"<@{BOT_USER_ID}> /remind in 1 second stretch", channel=ROOM, channel_type="channel"
    )
    thread = opener["event"]["ts"]
    await running.events.event(opener)

    def reminder() -> list[Any]:
        return [m for m in fake.messages_in(ROOM, thread) if m.button_actions]

    await until(lambda: reminder() != [])
    [shown] = reminder()
    assert "stretch" in shown.visible_text
    snooze, done = shown.button_actions
    assert snooze.startswith("job:snooze:") and done.startswith("job:done:")
    assert running.llm.requests == [], "a command and a reminder never ask the model"

    press = running.events.press(
        done, user=OWNER, channel=ROOM, message_ts=shown.ts, thread_ts=thread
    )
    for _ in range(2):  # a press Slack delivers twice is handled once
        assert (await running.events.interaction(press))[0] == 200
    await until(lambda: any(m.visible_text.startswith("Done:") for m in fake.messages_in(ROOM)))
    await running.events.event(running.say("after"))
    await until(lambda: len(fake.messages_in(DM)) == 1)
    answers = [m for m in fake.messages_in(ROOM, thread) if m.visible_text.startswith("Done:")]
    assert len(answers) == 1 and "stretch" in answers[0].visible_text


async def test_slack_health_is_degraded_while_the_token_is_refused(running: Running) -> None:
    fake = running.fake
    assert running.slack_health() is HealthState.READY
    fake.fail("chat.postMessage", "invalid_auth", times=2)
    await running.events.event(running.say("hello"))
    await until(lambda: running.slack_health() is HealthState.DEGRADED)
    assert "bot_token" in (running.daemon.health.services["slack"].reason or "")
    # Accepted again: the waiting reply goes out and the channel is ready again.
    await until(lambda: len(fake.messages_in(DM)) == 1, timeout=30)
    await until(lambda: running.slack_health() is HealthState.READY)
