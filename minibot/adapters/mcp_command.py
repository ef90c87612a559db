"""`minibot mcp list|probe|approve|serve`: MCP servers from the command line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from minibot.adapters.config.schema import McpServerSettings, Settings
from minibot.adapters.mcp.sdk_connector import SdkMcpConnector
from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.mcp_pin_store import SqlMcpPinStore
from minibot.adapters.web.system_resolver import SystemHostResolver
from minibot.core import mcp
from minibot.core.errors import AddressRefused, McpUnavailable
from minibot.core.mcp import McpPin, McpToolInfo

EXIT_FAILED = 1


@asynccontextmanager
async def _pins(settings: Settings) -> AsyncIterator[SqlMcpPinStore]:
    database = SqlDatabase(settings.memory.url, auto_migrate=settings.memory.auto_migrate)
    try:
        await database.start()
        yield SqlMcpPinStore(database)
    finally:
        await database.stop()


def _server(settings: Settings, name: str) -> McpServerSettings:
    server = settings.mcp.servers.get(name)
    if server is None:
        known = ", ".join(sorted(settings.mcp.servers)) or "none"
        raise LookupError(f"no [mcp.servers.{name}] in the config (configured: {known})")
    return server


async def _probe(settings: Settings, name: str) -> tuple[McpToolInfo, ...]:
    connector = SdkMcpConnector(
        name,
        _server(settings, name),
        SystemHostResolver(),
        connect_timeout_seconds=settings.mcp.connect_timeout_seconds,
    )
    async with connector.connect(lambda: None) as session:
        return await session.list_tools()


def _where(server: McpServerSettings) -> str:
    return server.url if server.url else " ".join([server.command, *server.args])


async def list_servers(settings: Settings) -> tuple[int, list[str]]:
    if not settings.mcp.servers:
        return 0, ["no MCP servers configured ([mcp.servers.<name>])"]
    async with _pins(settings) as store:
        pins = {pin.server: pin for pin in await store.all()}
    lines: list[str] = []
    for name, server in sorted(settings.mcp.servers.items()):
        pin = pins.get(name)
        lines.append(f"{name}: {_state(server, pin)} - {_where(server)}")
        owners = "everyone allowed" if server.owners is None else ", ".join(server.owners)
        enabled = "all" if server.enabled_tools is None else ", ".join(server.enabled_tools)
        lines.append(f"  permission {server.permission}, owners {owners}, tools {enabled}")
        if pin is not None:
            lines.append(f"  fingerprint {pin.fingerprint}")
            lines.append(f"  tools: {', '.join(t.name for t in pin.tools) or 'none'}")
            for change in (
                mcp.changes(pin.tools, pin.pending_tools) if pin.pending_fingerprint else ()
            ):
                lines.append(f"  waiting for approval: {change}")
    return 0, lines


def _state(server: McpServerSettings, pin: McpPin | None) -> str:
    if not server.enabled:
        return "disabled"
    if pin is None:
        return "not seen yet"
    if pin.pending_fingerprint:
        return "changed, tools withdrawn until approved"
    return "pinned"


async def probe(settings: Settings, name: str) -> tuple[int, list[str]]:
    try:
        tools = await _probe(settings, name)
    except (LookupError, McpUnavailable, AddressRefused) as exc:
        return EXIT_FAILED, [f"probe failed: {exc}"]
    lines = [f"{name}: connected, {len(tools)} tool(s), fingerprint {mcp.fingerprint(tools)}"]
    lines += [f"  {t.name}: {t.description}" for t in tools]
    async with _pins(settings) as store:
        pin = await store.get(name)
    if pin is None:
        lines.append("not pinned yet: the daemon pins this list when it first connects")
    elif pin.fingerprint != mcp.fingerprint(tools):
        lines += ["differs from the pinned list:"] + [
            f"  {change}" for change in mcp.changes(pin.tools, tools)
        ]
    return 0, lines


async def approve(settings: Settings, name: str) -> tuple[int, list[str]]:
    try:
        _server(settings, name)
    except LookupError as exc:
        return EXIT_FAILED, [str(exc)]
    async with _pins(settings) as store:
        pin = await store.get(name)
        if pin is not None and pin.pending_fingerprint:
            await store.pin(name, pin.pending_fingerprint, pin.pending_tools, datetime.now(UTC))
            changed = mcp.changes(pin.tools, pin.pending_tools)
            return 0, [f"approved {name}'s new tool list:", *[f"  {c}" for c in changed]]
        try:
            tools = await _probe(settings, name)
        except (McpUnavailable, AddressRefused) as exc:
            return EXIT_FAILED, [f"nothing waiting, and the probe failed: {exc}"]
        found = mcp.fingerprint(tools)
        await store.pin(name, found, tools, datetime.now(UTC))
    return 0, [f"pinned {name}: {len(tools)} tool(s), fingerprint {found}"]


async def serve(settings: Settings, owner: str) -> int:
    from minibot.adapters.container import Container
    from minibot.adapters.mcp.serve import OwnerToolServer

    tools, services = Container(settings, mode="daemon").owner_tools()
    started = []
    try:
        for service in services:
            await service.start()
            started.append(service)
        await OwnerToolServer(tools, owner).run_stdio()
    finally:
        for service in reversed(started):
            await service.stop()
    return 0
