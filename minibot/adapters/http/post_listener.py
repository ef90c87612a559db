"""One POST route served by aiohttp on a host and port: what a platform's webhook needs."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

# A platform's update is small; anything past this is not one.
_MAX_BODY_BYTES = 1024 * 1024


class PostListener:
    """Serves `handler` for POSTs on `path`; `port` 0 takes a free one, read back after
    `start`. The daemon owns the signals, so aiohttp is told not to install its own."""

    def __init__(
        self,
        *,
        name: str,
        host: str,
        port: int,
        path: str,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> None:
        self._name = name
        self._host = host
        self._port = port
        self._path = path
        self._handler = handler
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        app = web.Application(client_max_size=_MAX_BODY_BYTES)
        app.router.add_post(self._path, self._handler)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info(f"{self._name} listening", extra={"host": self._host, "port": self._port})

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
