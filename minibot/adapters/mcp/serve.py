"""`minibot mcp serve`: one owner's notes and tasks offered to another MCP client over stdio."""

from __future__ import annotations

import json
from typing import Any

import mcp_types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from minibot.app.tools.registry import ToolContext, ToolRegistry
from minibot.core.conversation import ConversationKey, ToolCall

# What another assistant may do with the owner's data: the notes and the tasks.
SERVED = (
    "save_note",
    "get_note",
    "search_notes",
    "list_notes",
    "delete_note",
    "schedule_reminder",
    "schedule_prompt",
    "list_tasks",
    "update_task",
    "cancel_task",
)


class OwnerToolServer:
    """The registry's notes and tasks tools as MCP tools, every call for `owner_id`
    (never anyone named in the arguments) and through the registry: the same schema
    check, the tool's own checks, the time limit and the output cap as in a chat.
    Results are the registry's JSON text; a refused call is an MCP error result."""

    def __init__(self, tools: ToolRegistry, owner_id: str) -> None:
        self._tools = tools
        self._owner = owner_id
        self._conversation = owner_conversation(owner_id)
        self._calls = 0

    def names(self) -> list[str]:
        return [name for name in SERVED if self._tools.get(name) is not None]

    def server(self) -> Server[Any]:
        async def list_tools(_ctx: Any, _params: Any) -> mcp_types.ListToolsResult:
            listed = []
            for name in self.names():
                tool = self._tools.get(name)
                assert tool is not None
                listed.append(
                    mcp_types.Tool(
                        name=name,
                        description=tool.spec.description,
                        input_schema=dict(tool.spec.parameters),
                    )
                )
            return mcp_types.ListToolsResult(tools=listed)

        async def call_tool(
            _ctx: Any, params: mcp_types.CallToolRequestParams
        ) -> mcp_types.CallToolResult:
            return await self.call(params.name, params.arguments or {})

        return Server("minibot", on_list_tools=list_tools, on_call_tool=call_tool)

    async def call(self, name: str, arguments: dict[str, Any]) -> mcp_types.CallToolResult:
        if name not in self.names():
            text = json.dumps({"ok": False, "error": f"unknown tool {name!r}"})
            return _result(text, error=True)
        self._calls += 1
        call_id = f"mcp-{self._calls}"
        context = ToolContext(self._owner, self._conversation, None, call_id)
        text = await self._tools.run(ToolCall(call_id, name, json.dumps(arguments)), context)
        return _result(text, error=not json.loads(text).get("ok", False))

    async def run_stdio(self) -> None:
        server = self.server()
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def _result(text: str, *, error: bool) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=text)], is_error=error
    )


def owner_conversation(owner_id: str) -> ConversationKey:
    """Where the owner's tasks are delivered: their private chat on the channel their id
    names (`telegram:42` -> Telegram chat 42, `slack:U1` -> a direct message to U1,
    `console:local` -> the console). An id of no channel's form keeps an `mcp` key,
    which no channel delivers to."""
    channel, _, user = owner_id.partition(":")
    if channel and user and "/" not in user and "#" not in user:
        return ConversationKey(channel, user)
    return ConversationKey("mcp", owner_id.replace("/", "_").replace("#", "_"))
