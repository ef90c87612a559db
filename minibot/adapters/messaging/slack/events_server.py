"""The Events API receiver: slack-bolt's verification in front of an aiohttp server."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from minibot.adapters.http.post_listener import PostListener


class SlackEventsServer:
    """Serves Slack's POSTs on `path` through a bolt `AsyncApp`: bolt checks the request
    signature and its timestamp (401 otherwise, before anything is read), answers
    `url_verification` and `ssl_check`, and then the app's own middleware stores the
    update before the 200 goes back."""

    def __init__(self, app: AsyncApp, *, host: str, port: int, path: str) -> None:
        self._app = app
        self._listener = PostListener(
            name="slack events", host=host, port=port, path=path, handler=self._receive
        )

    @property
    def port(self) -> int:
        return self._listener.port

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    async def _receive(self, request: web.Request) -> web.Response:
        response = await self._app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)
