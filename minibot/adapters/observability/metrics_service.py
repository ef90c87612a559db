"""Serves /metrics on a listener of its own (when the control plane does not) and keeps
the inbox backlog gauge current."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiohttp import web

from minibot.adapters.observability.metrics import Metrics
from minibot.core.ports.inbox import Inbox

log = logging.getLogger(__name__)


class MetricsService:
    """The daemon's `metrics` service. With `listen` (host, port; port 0 takes a free
    one, read back from `port`) it serves GET /metrics; its loop reads each channel's
    pending inbox items every `poll_seconds` into `minibot_inbox_pending`."""

    name = "metrics"

    def __init__(
        self,
        metrics: Metrics,
        *,
        inbox: Inbox,
        channels: Sequence[str],
        poll_seconds: float,
        listen: tuple[str, int] | None = None,
    ) -> None:
        self._metrics = metrics
        self._inbox = inbox
        self._channels = tuple(channels)
        self._poll_seconds = poll_seconds
        self._listen = listen
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        if self._listen is None or self._runner is not None:
            return
        host, port = self._listen
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("metrics listening", extra={"host": host, "port": self.port})

    async def _serve(self, request: web.Request) -> web.Response:
        body, content_type = self._metrics.render()
        # As a header: aiohttp's content_type argument would drop the format's version.
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def run(self) -> None:
        while True:
            await self.poll_inbox()
            await asyncio.sleep(self._poll_seconds)

    async def poll_inbox(self) -> None:
        for channel in self._channels:
            try:
                pending = await self._inbox.pending(channel)
            except Exception as exc:
                log.warning("inbox backlog not read", extra={"error": repr(exc)})
                return
            self._metrics.inbox_pending.labels(channel).set(len(pending))

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
