"""Port: a connection to one MCP server (its tools listed and called)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from minibot.core.mcp import McpResult, McpToolInfo


class McpSession(Protocol):
    """An open session. `list_tools` returns every tool the server offers now (all
    pages); `call_tool` returns the server's answer, or raises `McpUnavailable` when
    the connection fails or no answer comes within `timeout_seconds`."""

    async def list_tools(self) -> tuple[McpToolInfo, ...]: ...

    async def call_tool(
        self, name: str, arguments: Mapping[str, Any], *, timeout_seconds: float
    ) -> McpResult: ...


class McpConnector(Protocol):
    """Opens sessions to one configured server. `connect` is entered and left in the
    same task (SDK sessions are task-bound); it raises `McpUnavailable` (or
    `AddressRefused` for a URL the address rules refuse) when no session can be opened,
    and calls `on_tools_changed` whenever the server says its tool list changed."""

    def connect(
        self, on_tools_changed: Callable[[], None]
    ) -> AbstractAsyncContextManager[McpSession]: ...
