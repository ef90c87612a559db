"""Socket Mode: Slack's events and presses over a WebSocket the app opens, each envelope
acknowledged only once the inbox holds what it carried."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from minibot.adapters.messaging.slack.api_errors import call_api
from minibot.core.errors import ChannelError, ChannelUnavailable

log = logging.getLogger(__name__)

# Envelopes whose payload is an update for the inbox: an Events API body, a press.
_STORED = {"events_api", "interactive"}
_CONNECT_TIMEOUT_SECONDS = 30.0

Store = Callable[[dict[str, Any]], Awaitable[None]]


class SlackSocketMode:
    """slack_sdk's aiohttp `SocketModeClient` under our acknowledgement rule: `start` asks
    `apps.connections.open` for a URL with the app-level token (a refused token fails the
    start) and connects; each `events_api` or `interactive` envelope's payload goes to
    `store`, and only when that returns is the envelope acknowledged. When `store` raises
    the envelope stays unacknowledged and Slack sends it again; its `event_id` (or
    `trigger_id`) makes the second delivery a duplicate the inbox drops. slack_sdk
    reconnects by itself on `disconnect` envelopes and failed pings."""

    def __init__(self, client: AsyncWebClient, app_token: str, store: Store) -> None:
        self._client = client
        self._app_token = app_token
        self._store = store
        self._socket: SocketModeClient | None = None

    async def start(self) -> None:
        try:
            answer = await call_api(
                "", lambda: self._client.apps_connections_open(app_token=self._app_token)
            )
        except ChannelError as exc:
            raise ChannelError(
                f"slack apps.connections.open failed (check channels.slack.app_token): {exc}",
                chat_id="",
            ) from exc
        socket = self._socket = SocketModeClient(
            app_token=self._app_token,
            web_client=self._client,
            logger=logging.getLogger("slack_sdk.socket_mode"),
        )
        socket.socket_mode_request_listeners.append(self._receive)
        socket.wss_uri = str(answer["url"])
        try:
            # slack_sdk retries a failed connection forever; a start waits a while only.
            await asyncio.wait_for(socket.connect(), _CONNECT_TIMEOUT_SECONDS)  # type: ignore[no-untyped-call]
        except TimeoutError as exc:
            raise ChannelUnavailable("slack socket mode could not connect", chat_id="") from exc
        log.info("slack socket mode connected")

    @property
    def connected(self) -> bool:
        """Whether a WebSocket is open now (slack_sdk reconnects by itself when not)."""
        session = self._socket.current_session if self._socket is not None else None
        return session is not None and not session.closed

    async def stop(self) -> None:
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close()  # type: ignore[no-untyped-call]

    async def _receive(self, client: AsyncBaseSocketModeClient, request: SocketModeRequest) -> None:
        if request.type in _STORED:
            try:
                await self._store(request.payload)
            except Exception:
                # Not acknowledged: Slack sends it again.
                log.exception(
                    "slack envelope not stored; left for Slack to send again",
                    extra={"envelope_id": request.envelope_id},
                )
                return
        # Anything else (a slash command we do not offer) is acknowledged and dropped.
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
