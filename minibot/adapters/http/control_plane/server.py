"""The control plane service: one aiohttp server in the daemon for the API, dashboard and chat."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from minibot.adapters.config.schema import ControlPlaneSettings
from minibot.adapters.http.control_plane.api_errors import (
    Handler,
    error_response,
    errors_middleware,
    json_response,
)
from minibot.adapters.http.control_plane.auth import CSRF_FIELD, CSRF_HEADER, SESSION_KEY, Auth
from minibot.adapters.http.control_plane.chat_file_routes import ChatFileRoutes
from minibot.adapters.http.control_plane.conversation_routes import ConversationRoutes
from minibot.adapters.http.control_plane.dashboard_routes import DashboardRoutes
from minibot.adapters.http.control_plane.data_routes import DataRoutes
from minibot.adapters.http.control_plane.deps import ControlPlaneDeps
from minibot.adapters.http.control_plane.health_routes import HealthRoutes
from minibot.adapters.http.control_plane.live_routes import LiveRoutes
from minibot.adapters.http.control_plane.mcp_routes import McpRoutes
from minibot.adapters.http.control_plane.openapi import openapi_document
from minibot.adapters.http.control_plane.task_routes import TaskRoutes
from minibot.core.health import Health, HealthBoard, HealthState

log = logging.getLogger(__name__)

_PUBLIC = frozenset({"/healthz", "/readyz", "/login"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How often the daemon's health is compared with the last look, for the live feed.
_HEALTH_POLL_SECONDS = 1.0
# At stop, how long requests still running may take (streams have ended by then).
_SHUTDOWN_SECONDS = 2.0


class ControlPlane:
    """Serves `/healthz`, `/readyz`, `/metrics`, the JSON API under `/api/v1/` (its
    OpenAPI document at `/api/v1/openapi.json`), the live streams and the dashboard at
    `/`. A supervised daemon service: its loop reports services that become degraded or
    recover to the live feed. At the start of a stop (`close_intake`) every open
    SSE/WebSocket stream ends, so the stop is not held up by a browser tab."""

    name = "control-plane"

    def __init__(self, settings: ControlPlaneSettings, deps: ControlPlaneDeps) -> None:
        self._settings = settings
        self._deps = deps
        self._auth = Auth(
            settings.token.get_secret_value(),
            deps.sessions,
            owner=settings.owner,
            session_seconds=settings.session_hours * 3600,
            now=deps.now,
        )
        self._runner: web.AppRunner | None = None
        self._port = settings.listen_port
        self._board = HealthBoard()
        self._stopped = asyncio.Event()

    @property
    def port(self) -> int:
        return self._port

    @property
    def health(self) -> Health:
        return self._board.health

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=self._settings.max_body_bytes,
            middlewares=[errors_middleware, self._auth_middleware],
        )
        for routes in (
            HealthRoutes(self._deps),
            TaskRoutes(self._deps),
            ConversationRoutes(self._deps),
            ChatFileRoutes(self._deps),
            DataRoutes(self._deps),
            LiveRoutes(self._deps),
            DashboardRoutes(self._deps, self._auth),
            McpRoutes(self._deps),
        ):
            routes.register(app.router)
        document = openapi_document()

        async def openapi(request: web.Request) -> web.Response:
            return json_response(document)

        app.router.add_get("/api/v1/openapi.json", openapi)
        return app

    async def start(self) -> None:
        self._stopped.clear()
        # Started after the channels: what the API said before a crash is answered now.
        await self._deps.said.republish_pending()
        self._runner = web.AppRunner(
            self.app(), handle_signals=False, access_log=None, shutdown_timeout=_SHUTDOWN_SECONDS
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.listen_host, self._port)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self._auth.open:
            log.warning(
                "control plane has no token: anyone on this machine may use it "
                "(set [control_plane] token)"
            )
        log.info(
            "control plane listening",
            extra={"host": self._settings.listen_host, "port": self._port},
        )
        self._board.started()

    async def run(self) -> None:
        if self._deps.tasks is not None:
            # Loaded here, beside the start, not in it: the first listing is then quick.
            await self._deps.tasks.active()
        last: dict[str, HealthState] = {}
        while not self._stopped.is_set():
            for name, health in self._deps.health().services.items():
                before = last.get(name)
                last[name] = health.state
                if before is None or before == health.state:
                    continue
                if health.state is HealthState.DEGRADED:
                    self._deps.feed.emit(
                        "service_degraded", {"service": name, "reason": health.reason}
                    )
                elif health.state is HealthState.READY and before is HealthState.DEGRADED:
                    self._deps.feed.emit("service_recovered", {"service": name})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), _HEALTH_POLL_SECONDS)

    async def close_intake(self) -> None:
        self._deps.said.close()
        self._deps.feed.close()

    async def stop(self) -> None:
        self._stopped.set()
        self._deps.said.close()
        self._deps.feed.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self._board.stopped()

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in _PUBLIC or request.path.startswith("/static/") or self._auth.open:
            return await handler(request)
        if self._auth.bearer_ok(request):
            return await handler(request)
        session = await self._auth.session(request)
        if session is None:
            if request.path.startswith("/api/") or request.path == "/metrics":
                return error_response(401, "unauthorized", "authentication required")
            return DashboardRoutes.login_page(status=401)
        if request.method not in _SAFE_METHODS:
            presented = request.headers.get(CSRF_HEADER)
            if presented is None and request.content_type == "application/x-www-form-urlencoded":
                presented = (await request.post()).get(CSRF_FIELD)  # type: ignore[assignment]
            if not self._auth.csrf_ok(session, presented):
                return error_response(403, "csrf", "missing or wrong CSRF token")
        request[SESSION_KEY] = session
        return await handler(request)
