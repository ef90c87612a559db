"""Port: the pinned (approved) tool list of each MCP server, kept across restarts."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from minibot.core.mcp import McpPin, McpToolInfo


class McpPinStore(Protocol):
    """`get` returns None for a server never pinned. `pin` makes `tools` the approved
    list and clears any pending one; `hold` records a different list as pending, the
    approved one unchanged. Both are idempotent for the same list."""

    async def get(self, server: str) -> McpPin | None: ...

    async def all(self) -> list[McpPin]: ...

    async def pin(
        self, server: str, fingerprint: str, tools: tuple[McpToolInfo, ...], at: datetime
    ) -> None: ...

    async def hold(self, server: str, fingerprint: str, tools: tuple[McpToolInfo, ...]) -> None: ...
