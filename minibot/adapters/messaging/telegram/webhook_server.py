"""The webhook receiver: an aiohttp server that checks the secret and stores first."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from minibot.adapters.http.post_listener import PostListener

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookServer:
    """Answers Telegram's POSTs on `path`. A request without the right secret header
    gets 403. The update is handled (stored in the inbox, or set aside when it cannot
    be) before the 200 goes back, so Telegram redelivers it if we die first; if the
    store is down, a 500 makes it retry. A body that is not JSON is set aside as it
    came: retrying it would not help, and it would hold up the updates behind it."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        path: str,
        secret_token: str,
        handle: Callable[[Any], Awaitable[None]],
        set_aside: Callable[[bytes, str], Awaitable[None]],
    ) -> None:
        if not secret_token:
            raise ValueError("a webhook needs a secret token")
        self._secret = secret_token.encode()
        self._handle = handle
        self._set_aside = set_aside
        self._listener = PostListener(
            name="telegram webhook", host=host, port=port, path=path or "/", handler=self._receive
        )

    @property
    def port(self) -> int:
        return self._listener.port

    async def start(self) -> None:
        await self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("telegram webhook request with a wrong secret refused")
            return web.Response(status=403, text="forbidden")
        body = await request.read()
        try:
            # The standard parser: exact for integers past 64 bits, and it takes a lone
            # surrogate escape (both of which orjson would not).
            raw = json.loads(body)
        except ValueError as exc:
            return await _answer(self._set_aside(body, f"webhook body is not JSON: {exc}"))
        return await _answer(self._handle(raw))


async def _answer(handling: Awaitable[None]) -> web.Response:
    """200 once the update is stored or set aside; 500 (Telegram retries) otherwise."""
    try:
        await handling
    except Exception:
        log.exception("telegram update not stored; Telegram will retry")
        return web.Response(status=500, text="retry")
    return web.Response(text="ok")
