"""MCP servers' tools in the registry as `mcp_<server>_<tool>`, offered and withdrawn."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any

from jsonschema import SchemaError

from minibot.app.tools.registry import Tool, ToolAccess, ToolContext, ToolRegistry
from minibot.core.llm import ToolSpec
from minibot.core.mcp import McpResult, McpToolInfo, exposed_name
from minibot.core.tool_permissions import PermissionLevel

log = logging.getLogger(__name__)

# Above the server's own call limit, so the link's McpUnavailable (with its reason)
# reaches the model rather than the registry's plain timeout.
MARGIN_SECONDS = 2.0

Call = Callable[..., Any]


class McpServerTools:
    """The registry entries of one server. `offer` replaces them with the given list
    (those in `enabled_tools` only; an empty list withdraws them all). Each is offered
    only to `owners` (None: everyone), at `permission` unless `[tools.permissions]`
    names it; its output is untrusted, and it counts as acting on the owner's behalf,
    so untrusted content in a turn holds it for approval."""

    def __init__(
        self,
        server: str,
        registry: ToolRegistry,
        call: Call,
        *,
        enabled_tools: Collection[str] | None,
        owners: Collection[str] | None,
        permission: PermissionLevel,
        timeout_seconds: float,
    ) -> None:
        self._server = server
        self._registry = registry
        self._call = call
        self._enabled = None if enabled_tools is None else frozenset(enabled_tools)
        self._owners = None if owners is None else frozenset(owners)
        self._permission = permission
        self._timeout = timeout_seconds
        self.offered: dict[str, str] = {}  # exposed name -> the server's tool name

    def offer(self, tools: tuple[McpToolInfo, ...]) -> None:
        for name in self.offered:
            self._registry.remove(name)
        self.offered = {}
        for info in tools:
            if self._enabled is not None and info.name not in self._enabled:
                continue
            name = exposed_name(self._server, info.name)
            try:
                self._registry.add(self._tool(name, info))
            except SchemaError as exc:
                log.warning(
                    "mcp tool left out: its schema is not valid JSON Schema",
                    extra={"server": self._server, "tool": info.name, "error": exc.message},
                )
                continue
            self.offered[name] = info.name

    def _tool(self, name: str, info: McpToolInfo) -> Tool:
        schema = dict(info.input_schema) or {"type": "object"}
        description = f"[MCP server {self._server}] {info.description}".strip()

        async def handler(arguments: Mapping[str, Any], context: ToolContext) -> Any:
            result: McpResult = await self._call(
                info.name, arguments, timeout_seconds=self._timeout
            )
            answer: dict[str, Any] = {"text": result.text}
            if result.structured is not None:
                answer["structured"] = result.structured
            if result.is_error:
                answer["error"] = "the server reports that the call failed"
            return answer

        return Tool(
            ToolSpec(name, description, schema),
            handler,
            ToolAccess.CHANGES_OWNER,
            default_level=self._permission,
            untrusted_output=True,
            acts=True,
            timeout_seconds=self._timeout + MARGIN_SECONDS,
            owners=self._owners,
        )
