"""Builds the MCP links, their registry entries and /mcp from `[mcp]` (the container's part)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime

from minibot.adapters.config.schema import McpSettings, Settings
from minibot.adapters.mcp.sdk_connector import SdkMcpConnector
from minibot.adapters.web.system_resolver import SystemHostResolver
from minibot.app.commands import CommandRouter
from minibot.app.mcp.mcp_commands import McpCommands, McpServer
from minibot.app.mcp.mcp_tools import McpServerTools
from minibot.app.mcp.server_link import McpLink
from minibot.app.tools.registry import ToolRegistry
from minibot.core.backoff import Backoff
from minibot.core.commands import SendReply
from minibot.core.conversation import ConversationKey
from minibot.core.messages import OutgoingMessage
from minibot.core.ports.bus import Publish
from minibot.core.ports.mcp_pin_store import McpPinStore
from minibot.core.tool_permissions import PermissionLevel


def mcp_servers(
    settings: Settings,
    pins: McpPinStore,
    tools: ToolRegistry,
    publish: Publish,
    now: Callable[[], datetime],
    *,
    console: bool,
) -> dict[str, McpServer]:
    """One link per enabled server, its tools joining `tools` once pinned."""
    mcp = settings.mcp
    resolver = SystemHostResolver()
    servers: dict[str, McpServer] = {}
    for name, server in mcp.servers.items():
        if not server.enabled:
            continue
        connector = SdkMcpConnector(
            name, server, resolver, connect_timeout_seconds=mcp.connect_timeout_seconds
        )
        cell: list[McpLink] = []
        entries = McpServerTools(
            name,
            tools,
            lambda *a, _cell=cell, **k: _cell[0].call(*a, **k),
            enabled_tools=server.enabled_tools,
            owners=server.owners,
            permission=PermissionLevel(server.permission),
            timeout_seconds=server.timeout_seconds,
        )
        link = McpLink(
            name,
            connector,
            pins,
            offer=entries.offer,
            tell=_teller(owner_chats(settings, server.owners, console=console), publish),
            now=now,
            backoff=_backoff(mcp),
            ping_interval_seconds=mcp.ping_interval_seconds,
        )
        cell.append(link)
        servers[name] = McpServer(link, entries, server.owners)
    return servers


def register_commands(servers: dict[str, McpServer], commands: CommandRouter) -> None:
    McpCommands(servers).register(commands)


def _backoff(mcp: McpSettings) -> Backoff:
    return Backoff(mcp.reconnect_initial_delay_seconds, mcp.reconnect_max_delay_seconds, jitter=0.2)


def owner_chats(
    settings: Settings, owners: Collection[str] | None, *, console: bool
) -> list[ConversationKey]:
    """The private chats where a server's owners are told about it: a Telegram user's
    own chat, the console's chat. Owner ids joined by `kv_memory.identities` are
    followed back to their channel identities."""
    identities = settings.kv_memory.identities
    channels = settings.channels
    wanted: list[str] = []
    if owners is None:
        wanted += [f"telegram:{u}" for u in channels.telegram.allowed_user_ids]
        if console:
            wanted.append(f"console:{channels.console.user_id}")
    else:
        for owner in owners:
            wanted += [i for i, o in identities.items() if o == owner] or [owner]
    chats: list[ConversationKey] = []
    for identity in wanted:
        channel, _, user = identity.partition(":")
        if channel == "telegram" and user:
            chats.append(ConversationKey("telegram", user))
        elif channel == "console" and user == channels.console.user_id:
            chats.append(ConversationKey("console", channels.console.chat_id))
    return list(dict.fromkeys(chats))


def _teller(chats: list[ConversationKey], publish: Publish) -> Callable[[str], Awaitable[None]]:
    async def tell(text: str) -> None:
        notice = f"mcp-notice-{secrets.token_hex(6)}"
        for chat in chats:
            await publish(SendReply(OutgoingMessage(chat, text, notice)))

    return tell
