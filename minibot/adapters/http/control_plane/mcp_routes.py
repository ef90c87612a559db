"""The dashboard's `/mcp`: each MCP server's state and tools, and Approve for a changed one."""

from __future__ import annotations

from aiohttp import web

from minibot.adapters.http.control_plane import pages
from minibot.adapters.http.control_plane.api_errors import ApiError
from minibot.adapters.http.control_plane.auth import SESSION_KEY
from minibot.adapters.http.control_plane.deps import ControlPlaneDeps
from minibot.core.mcp import McpState, changes


class McpRoutes:
    def __init__(self, deps: ControlPlaneDeps) -> None:
        self._deps = deps

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/mcp", self.servers)
        router.add_post("/mcp/{name}/approve", self.approve)

    async def servers(self, request: web.Request) -> web.Response:
        session = request.get(SESSION_KEY)
        csrf = session.csrf if session is not None else ""
        rows = []
        for name, server in sorted(self._deps.mcp.items()):
            link = server.link
            action = ""
            if link.state is McpState.CHANGED:
                action = (
                    f'<form method="post" action="/mcp/{pages.e(name)}/approve">'
                    f"{pages.csrf_field(csrf)}<button>Approve</button></form>"
                )
            rows.append(
                [
                    pages.e(name),
                    pages.e(str(link.state)) + (f"<br>{pages.e(link.error)}" if link.error else ""),
                    pages.e(", ".join(sorted(server.tools.offered)) or "none offered"),
                    pages.e(link.fingerprint[:16]),
                    action,
                ]
            )
        body = (
            pages.table(["server", "state", "tools offered", "fingerprint", ""], rows)
            if rows
            else "<p>No MCP servers are configured.</p>"
        )
        pending = await self._pending()
        return web.Response(
            text=pages.layout("MCP servers", body + pending, csrf=csrf, path=request.path),
            content_type="text/html",
        )

    async def _pending(self) -> str:
        """What each changed server would change, so the Approve is an informed one."""
        parts = []
        for name, server in sorted(self._deps.mcp.items()):
            link = server.link
            if link.state is not McpState.CHANGED:
                continue
            pin = await link.pin()
            if pin is None:
                continue
            lines = changes(pin.tools, link.tools)
            items = "".join(f"<li>{pages.e(line)}</li>" for line in lines)
            parts.append(f"<h3>{pages.e(name)}: waiting for approval</h3><ul>{items}</ul>")
        return "".join(parts)

    async def approve(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        server = self._deps.mcp.get(name)
        if server is None:
            raise ApiError(404, "not_found", f"no MCP server {name[:40]!r}")
        await server.link.approve()
        raise web.HTTPSeeOther("/mcp")
