"""`/healthz`, `/readyz` and `/metrics`: for supervisors, load balancers and Prometheus."""

from __future__ import annotations

from aiohttp import web

from minibot.adapters.http.control_plane.api_errors import json_response
from minibot.adapters.http.control_plane.deps import ControlPlaneDeps
from minibot.core.health import HealthState


class HealthRoutes:
    def __init__(self, deps: ControlPlaneDeps) -> None:
        self._deps = deps

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/healthz", self.healthz)
        router.add_get("/readyz", self.readyz)
        router.add_get("/metrics", self.metrics)

    async def healthz(self, request: web.Request) -> web.Response:
        return json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """Ready when every service (storage, the bus, each enabled channel...) is; else
        503 naming those that are not, and why."""
        health = self._deps.health()
        not_ready = {
            name: {"state": h.state.value, "reason": h.reason}
            for name, h in health.services.items()
            if h.state is not HealthState.READY
        }
        if not_ready:
            return json_response({"status": "not_ready", "not_ready": not_ready}, 503)
        return json_response({"status": "ready", "services": sorted(health.services)})

    async def metrics(self, request: web.Request) -> web.Response:
        body, content_type = self._deps.metrics()
        return web.Response(body=body, headers={"Content-Type": content_type})
