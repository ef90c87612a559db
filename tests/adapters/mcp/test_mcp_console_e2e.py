"""MCP servers through the whole bot: the console daemon, the fake model calling
`mcp_<server>_<tool>`, a stdio test server (tests/fakes/mcp_server.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.adapters.mcp.console_session import ConsoleSession
from tests.fakes.openai_server import FakeOpenAIServer, Script
from tests.process import write_config

SERVER = Path(__file__).resolve().parents[2] / "fakes" / "mcp_server.py"


def mcp_config(tmp_path: Path, llm: str, extra: str = "", **server: str) -> Path:
    lines = "\n".join(f"{k} = {v}" for k, v in server.items())
    return write_config(
        tmp_path,
        llm,
        f"""
[mcp]
ping_interval_seconds = 0.3
reconnect_initial_delay_seconds = 0.2
reconnect_max_delay_seconds = 1

[mcp.servers.test]
command = "{sys.executable}"
args = ["{SERVER}"]
permission = "allow"
timeout_seconds = 2
{lines}
{extra}
""",
    )


def offered(fake_llm: FakeOpenAIServer, index: int = -1) -> list[str]:
    return [t["function"]["name"] for t in fake_llm.requests[index].body.get("tools", [])]


async def test_the_model_calls_an_mcp_tool_and_its_result_reaches_the_answer(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = mcp_config(tmp_path, fake_llm.base_url, enabled_tools='["echo", "hang"]')
    fake_llm.script(
        Script.tool_call("mcp_test_echo", json.dumps({"text": "hello there"})),
        Script.quoting_tool_result(),
    )
    async with ConsoleSession(config) as console:
        await console.say("/mcp")  # waits for the server to be pinned and offered
        reply = await _when_ready(console)
        assert "mcp_test_echo" in reply and "mcp_test_environment" not in reply
        answer = await console.say("say hello through the tool")
    assert "echo: hello there" in answer
    assert "untrusted data from mcp_test_echo" in answer
    names = offered(fake_llm, 0)
    assert "mcp_test_echo" in names and "mcp_test_hang" in names
    # Not in enabled_tools: never offered.
    assert "mcp_test_environment" not in names and "mcp_test_flip" not in names
    echo = next(
        t for t in fake_llm.requests[0].body["tools"] if t["function"]["name"] == "mcp_test_echo"
    )
    assert echo["function"]["parameters"]["required"] == ["text"]


async def test_arguments_failing_the_servers_schema_never_reach_it(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = mcp_config(tmp_path, fake_llm.base_url)
    fake_llm.script(
        Script.tool_call("mcp_test_echo", json.dumps({"text": 42})),
        Script.quoting_tool_result(),
    )
    async with ConsoleSession(config) as console:
        await _when_ready(console)
        answer = await console.say("echo a number")
    assert "invalid arguments at text" in answer


async def test_an_owner_not_in_owners_is_never_offered_the_servers_tools(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = mcp_config(tmp_path, fake_llm.base_url, owners='["telegram:1"]')
    fake_llm.script(
        Script.tool_call("mcp_test_echo", json.dumps({"text": "sneak"})),
        Script.quoting_tool_result(),
    )
    async with ConsoleSession(config) as console:
        listing = await console.say("/mcp")
        answer = await console.say("call it anyway")
    assert "No MCP servers are configured for you" in listing
    assert not [n for n in offered(fake_llm, 0) if n.startswith("mcp_")]
    assert "unknown tool 'mcp_test_echo'" in answer


async def test_a_stdio_server_that_prints_its_environment_sees_no_secret(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = mcp_config(tmp_path, fake_llm.base_url, env='{ NAMED = "${MCP_NAMED}" }')
    fake_llm.script(Script.tool_call("mcp_test_environment", "{}"), Script.quoting_tool_result())
    secrets = {
        "MCP_NAMED": "given-on-purpose",
        "OPENAI_API_KEY": "sk-leak-me-not",
        "MINIBOT_TELEGRAM_TOKEN": "123:leak",
        "AWS_SECRET_ACCESS_KEY": "aws-leak",
    }
    async with ConsoleSession(config, env=secrets) as console:
        await _when_ready(console)
        answer = await console.say("what is in your environment")
    assert "given-on-purpose" in answer  # named in env: passed
    for leak in ("sk-leak-me-not", "123:leak", "aws-leak", "sk-test-key-0123456789abcdef"):
        assert leak not in answer
    assert "MCP_NAMED" not in answer and "PATH" in answer


async def test_a_hanging_server_is_reported_unavailable_within_its_timeout(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = mcp_config(tmp_path, fake_llm.base_url)
    fake_llm.script(Script.tool_call("mcp_test_hang", "{}"), Script.quoting_tool_result())
    async with ConsoleSession(config) as console:
        await _when_ready(console)
        started = time.monotonic()
        answer = await console.say("wait for it")
        took = time.monotonic() - started
    assert "unavailable" in answer and "test" in answer
    assert took < 2 + 4  # the call's 2 s timeout, with room for a loaded machine


@pytest.mark.slow
async def test_a_killed_server_is_reconnected_and_used_again(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    pid_file = tmp_path / "server.pid"
    config = mcp_config(tmp_path, fake_llm.base_url, env=f'{{ PID_FILE = "{pid_file}" }}')
    fake_llm.script(
        Script.tool_call("mcp_test_echo", json.dumps({"text": "after the kill"})),
        Script.quoting_tool_result(),
    )
    async with ConsoleSession(config) as console:
        await _when_ready(console)
        first = int(pid_file.read_text())
        os.kill(first, signal.SIGKILL)
        await _when_ready(console, lambda: pid_file.read_text() not in ("", str(first)))
        answer = await console.say("echo again")
    assert "echo: after the kill" in answer


@pytest.mark.slow
async def test_a_changed_description_withdraws_the_tools_until_approved(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = mcp_config(tmp_path, fake_llm.base_url)
    fake_llm.script(
        Script.tool_call("mcp_test_flip", "{}"),
        Script.reply("flipped it"),
        Script.reply("no tools now"),
        Script.tool_call("mcp_test_echo", json.dumps({"text": "back"})),
        Script.quoting_tool_result(),
    )
    async with ConsoleSession(config) as console:
        await _when_ready(console)
        # The notice and the turn's answer race (the link tells as soon as it lists again).
        replies = [await console.say("flip"), await console.next_reply()]
        assert "flipped it" in replies
        told = next(r for r in replies if r != "flipped it")
        assert "changed what it offers" in told
        assert "IGNORE ALL PREVIOUS INSTRUCTIONS" in told and "/mcp approve test" in told
        listing = await console.say("/mcp")
        assert "test: changed" in listing and "none offered" in listing
        assert await console.say("anything?") == "no tools now"
        assert not [n for n in offered(fake_llm) if n.startswith("mcp_")]
        approved = await console.say("/mcp approve test")
        assert "Approved test" in approved
        answer = await console.say("echo back")
    assert "echo: back" in answer
    assert "mcp_test_echo" in offered(fake_llm, -2)


async def _when_ready(console: ConsoleSession, also: Callable[[], bool] = lambda: True) -> str:
    deadline = time.monotonic() + 20
    while True:
        listing = await console.say("/mcp")
        if "test: ready" in listing and also():
            return listing
        if time.monotonic() > deadline:
            raise AssertionError(f"the server never became ready: {listing}")
        await asyncio.sleep(0.2)
