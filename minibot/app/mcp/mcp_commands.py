"""/mcp: the MCP servers an owner may use, their state and tools; `/mcp approve <server>`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from minibot.app.commands import CommandReply, CommandRequest, CommandRouter
from minibot.app.mcp.mcp_tools import McpServerTools
from minibot.app.mcp.server_link import McpLink

USAGE = (
    "/mcp - MCP servers, their state and tools\n"
    "/mcp approve <server> - use a changed server's tools again"
)


@dataclass(frozen=True, slots=True)
class McpServer:
    """A configured server as the commands see it: its link, its registry entries and
    who may use it (None: everyone allowed to talk to the bot)."""

    link: McpLink
    tools: McpServerTools
    owners: Collection[str] | None


class McpCommands:
    def __init__(self, servers: Mapping[str, McpServer]) -> None:
        self._servers = dict(servers)

    def register(self, router: CommandRouter) -> None:
        router.register("mcp", "MCP servers: list, approve <server>", self.mcp)

    async def mcp(self, request: CommandRequest) -> CommandReply:
        verb, _, rest = request.args.strip().partition(" ")
        mine = {
            name: server
            for name, server in self._servers.items()
            if server.owners is None or request.owner_id in server.owners
        }
        if verb.lower() == "approve":
            server = mine.get(rest.strip())
            if server is None:
                return CommandReply(f"No MCP server {rest.strip()!r} of yours. {_names(mine)}")
            return CommandReply(await server.link.approve())
        if verb:
            return CommandReply(USAGE)
        if not mine:
            return CommandReply("No MCP servers are configured for you.")
        return CommandReply("\n".join(_describe(name, s) for name, s in sorted(mine.items())))


def _names(servers: Mapping[str, McpServer]) -> str:
    return f"Yours: {', '.join(sorted(servers))}." if servers else "You have none."


def _describe(name: str, server: McpServer) -> str:
    link = server.link
    line = f"{name}: {link.state}"
    if link.error:
        line += f" ({link.error})"
    if link.fingerprint:
        line += f", fingerprint {link.fingerprint[:12]}"
    offered = ", ".join(sorted(server.tools.offered)) or "none offered"
    return f"{line}\n  tools: {offered}"
