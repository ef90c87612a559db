"""The Events API receiver: slack-bolt's verification in front of an aiohttp server."""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

log = logging.getLogger(__name__)


class SlackEventsServer:
    """Serves Slack's POSTs on `path` through a bolt `AsyncApp`: bolt checks the request
    signature and its timestamp (401 otherwise, before anything is read), answers
    `url_verification` and `ssl_check`, and then the app's own middleware stores the
    update before the 200 goes back."""

    def __init__(self, app: AsyncApp, *, host: str, port: int, path: str) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._path = path
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post(self._path, self._receive)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("slack events listening", extra={"host": self._host, "port": self._port})

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        response = await self._app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)
