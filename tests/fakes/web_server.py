"""Loopback HTTP servers for the web tools: a canary that counts requests, pages, redirects."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Mapping

from aiohttp import web

from minibot.core.address_rules import IPAddress


class LoopbackSite:
    """An aiohttp server on 127.0.0.1 (and ::1 on the same port when it can) that
    records every request and answers from `pages` (path -> (status, headers, body))."""

    def __init__(self, pages: Mapping[str, tuple[int, dict[str, str], bytes]] | None = None):
        self.pages = dict(pages or {})
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.delays: dict[str, float] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        with contextlib.suppress(OSError):
            await web.TCPSite(self._runner, "::1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        self.headers.append(dict(request.headers))
        if request.path in self.delays:
            await asyncio.sleep(self.delays[request.path])
        status, headers, body = self.pages.get(
            request.path, (200, {"Content-Type": "text/plain"}, b"canary")
        )
        return web.Response(status=status, headers=headers, body=body)


class ScriptedResolver:
    """The HostResolver port with answers set per name; a name it does not know fails
    (no test reaches real DNS). A list of answers is used one per lookup, the last
    repeated: a name whose answer changes between two lookups."""

    def __init__(self, answers: Mapping[str, list[list[str]]] | None = None) -> None:
        self.answers = {name: list(seq) for name, seq in (answers or {}).items()}
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        sequence = self.answers.get(host)
        if not sequence:
            raise OSError(f"{host}: no such name (scripted resolver)")
        answer = sequence.pop(0) if len(sequence) > 1 else sequence[0]
        return [ipaddress.ip_address(a) for a in answer]
