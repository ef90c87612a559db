"""MCP over Streamable HTTP on loopback, the address rules for a server's URL, and the
`minibot mcp` commands (list, probe, approve, serve driven by the SDK's own client)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client

from minibot.adapters.mcp.pinned_http import PinnedTransport, checked_address
from minibot.adapters.web.system_resolver import SystemHostResolver
from minibot.core.address_rules import parse_ip_literal
from minibot.core.errors import AddressRefused, McpUnavailable
from tests.adapters.mcp.console_session import ConsoleSession
from tests.adapters.mcp.test_mcp_console_e2e import SERVER, _when_ready
from tests.fakes.mcp_server import HttpMcpServer
from tests.fakes.openai_server import FakeOpenAIServer, Script
from tests.process import MINIBOT, child_env, run_minibot, write_config

REPO = str(Path(__file__).resolve().parents[3])


@pytest.fixture
async def http_server() -> AsyncIterator[HttpMcpServer]:
    server = HttpMcpServer()
    await server.start()
    yield server
    await server.stop()


def http_config(tmp_path: Path, llm: str, url: str) -> Path:
    return write_config(
        tmp_path,
        llm,
        f"""
[mcp]
ping_interval_seconds = 0.3
reconnect_initial_delay_seconds = 0.2
reconnect_max_delay_seconds = 1

[mcp.servers.test]
url = "{url}"
headers = {{ Authorization = "Bearer ${{MCP_TOKEN}}" }}
permission = "allow"
timeout_seconds = 3
""",
    )


async def test_a_loopback_http_servers_tool_answers_through_the_bot(
    tmp_path: Path, fake_llm: FakeOpenAIServer, http_server: HttpMcpServer
) -> None:
    config = http_config(tmp_path, fake_llm.base_url, http_server.url)
    fake_llm.script(
        Script.tool_call("mcp_test_echo", json.dumps({"text": "over http"})),
        Script.quoting_tool_result(),
    )
    async with ConsoleSession(config, env={"MCP_TOKEN": "t0ken"}) as console:
        await _when_ready(console)
        answer = await console.say("echo over http")
    assert "echo: over http" in answer


async def test_an_http_server_url_at_a_forbidden_address_is_refused(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = http_config(tmp_path, fake_llm.base_url, "http://169.254.169.254/mcp")
    async with ConsoleSession(config, env={"MCP_TOKEN": "x"}) as console:
        listing = await console.say("/mcp")
        for _ in range(50):
            if "unavailable" in listing:
                break
            listing = await console.say("/mcp")
    assert "test: unavailable" in listing and "a cloud metadata address" in listing
    probed = await run_minibot(
        "mcp", "probe", "test", "--config", str(config), env={"MCP_TOKEN": "x"}
    )
    assert probed.returncode == 1
    assert "probe failed: refused http://169.254.169.254/mcp" in probed.stderr
    assert "a cloud metadata address" in probed.stderr


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::ffff:169.254.169.254]/mcp", "a cloud metadata address"),
        ("http://0.0.0.0:8000/mcp", "the unspecified address"),
        ("http://169.254.1.1/mcp", "a link-local address"),
        ("ftp://127.0.0.1/mcp", "must be http or https"),
        ("http://user:pw@127.0.0.1/mcp", "not in the URL"),
    ],
)
async def test_a_servers_own_url_is_checked_before_any_connection(url: str, why: str) -> None:
    with pytest.raises(AddressRefused, match=why):
        await checked_address(url, SystemHostResolver())


async def test_loopback_and_home_network_urls_are_allowed_by_being_configured() -> None:
    assert (await checked_address("http://127.0.0.1:9/mcp", SystemHostResolver()))[1] == 9
    host, port, address = await checked_address("http://192.168.1.5/mcp", SystemHostResolver())
    assert (host, port, str(address)) == ("192.168.1.5", 80, "192.168.1.5")


async def test_the_pinned_transport_refuses_any_other_host_or_port(
    http_server: HttpMcpServer,
) -> None:
    address = parse_ip_literal("127.0.0.1")
    assert address is not None
    transport = PinnedTransport("127.0.0.1", http_server.port, address)
    async with httpx2.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx2.ConnectError, match="not the configured MCP server"):
            await client.get(f"http://127.0.0.1:{http_server.port + 1}/elsewhere")
        with pytest.raises(httpx2.ConnectError, match="not the configured MCP server"):
            await client.get("http://example.com/")
        # The configured one is reached, at the pinned address.
        answer = await client.get(http_server.url)
        assert answer.status_code != 0


async def test_the_pinned_transport_connects_to_the_checked_address_not_the_name(
    http_server: HttpMcpServer,
) -> None:
    address = parse_ip_literal("127.0.0.1")
    assert address is not None
    # A name that resolves nowhere: only the pinned address can have answered.
    transport = PinnedTransport("mcp.invalid", http_server.port, address)
    async with httpx2.AsyncClient(transport=transport) as client:
        answer = await client.post(
            f"http://mcp.invalid:{http_server.port}/mcp", json={}, headers={"Accept": "*/*"}
        )
    assert answer.status_code < 500


@pytest.mark.timeout(240)
async def test_probe_list_and_approve_from_the_command_line(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        "http://127.0.0.1:9/v1",
        f'[mcp.servers.test]\ncommand = "{sys.executable}"\nargs = ["{SERVER}"]\n',
    )
    listed = await run_minibot("mcp", "list", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    assert "test: not seen yet" in listed.stdout
    probed = await run_minibot("mcp", "probe", "test", "--config", str(config))
    assert probed.returncode == 0, probed.stderr
    assert "test: connected, 4 tool(s)" in probed.stdout
    assert "echo: Repeat the text back." in probed.stdout
    approved = await run_minibot("mcp", "approve", "test", "--config", str(config))
    assert approved.returncode == 0, approved.stderr
    assert "pinned test: 4 tool(s)" in approved.stdout
    listed = await run_minibot("mcp", "list", "--config", str(config))
    assert "test: pinned" in listed.stdout and "tools: echo, environment, hang, flip" in (
        listed.stdout
    )
    missing = await run_minibot("mcp", "probe", "nope", "--config", str(config))
    assert missing.returncode == 1 and "no [mcp.servers.nope]" in missing.stderr


async def test_mcp_serve_saves_a_note_the_bot_then_finds(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    config = write_config(tmp_path, fake_llm.base_url)
    params = StdioServerParameters(
        command=MINIBOT[0],
        args=[*MINIBOT[1:], "mcp", "serve", "--owner", "console:local", "--config", str(config)],
        env=child_env(),
        cwd=REPO,
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        assert {"save_note", "search_notes", "list_tasks", "cancel_task"} <= names
        refused = await session.call_tool("save_note", {"title": "", "content": "x"})
        assert refused.is_error and "invalid arguments at title" in refused.content[0].text
        saved = await session.call_tool(
            "save_note", {"title": "bike lock", "content": "the code is 4711"}
        )
        assert not saved.is_error, saved.content
    fake_llm.script(
        Script.tool_call("search_notes", json.dumps({"query": "bike lock"})),
        Script.quoting_tool_result(),
    )
    async with ConsoleSession(config) as console:
        answer = await console.say("what is my bike lock code?")
    assert "the code is 4711" in answer


async def test_a_redirect_away_from_the_configured_server_is_not_followed(
    http_server: HttpMcpServer,
) -> None:
    from aiohttp import web

    from minibot.adapters.config.schema import McpServerSettings
    from minibot.adapters.mcp.sdk_connector import SdkMcpConnector

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(http_server.url)

    app = web.Application()
    app.router.add_route("*", "/mcp", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        settings = McpServerSettings(url=f"http://127.0.0.1:{port}/mcp", timeout_seconds=3)
        connector = SdkMcpConnector(
            "moved", settings, SystemHostResolver(), connect_timeout_seconds=5
        )
        with pytest.raises(McpUnavailable, match=r"not followed|not the configured MCP server"):
            async with connector.connect(lambda: None):
                pass
    finally:
        await runner.cleanup()


async def test_a_reminder_scheduled_through_mcp_serve_fires_in_the_running_daemon(
    tmp_path: Path, fake_llm: FakeOpenAIServer
) -> None:
    """With the SQL job store, the daemon re-reads its schedule: a reminder another process
    (`minibot mcp serve`) made while the daemon runs is delivered by it, without a restart."""
    config = write_config(tmp_path, fake_llm.base_url)
    config.write_text(config.read_text().replace("[scheduler]\n", '[scheduler]\nstore = "sql"\n'))
    params = StdioServerParameters(
        command=MINIBOT[0],
        args=[*MINIBOT[1:], "mcp", "serve", "--owner", "console:local", "--config", str(config)],
        env=child_env(),
        cwd=REPO,
    )
    async with ConsoleSession(config) as console:
        await console.say("/tasks")  # the daemon is up (a command: no model call)
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            made = await session.call_tool(
                "schedule_reminder", {"when": "in 3 seconds", "text": "water the basil"}
            )
            assert not made.is_error, made.content
        reminder = await console.next_reply(within_seconds=30)
    assert "water the basil" in reminder
    assert fake_llm.requests == [], "a reminder is sent as written, with no model call"
