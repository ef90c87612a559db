"""The fake Bot API for several replicas of one bot: each replica's `api_base` names it
(`{base_url}/r1`), and getUpdates behaves as Telegram's does with two pollers: a new
getUpdates ends the one under way from another poller with 409 ("terminated by other
getUpdates request"). Every poll is recorded, so a test can tell whether two replicas
ever polled at once."""

from __future__ import annotations

import asyncio
import contextvars
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.telegram_server import FakeTelegramServer, _error

_replica: contextvars.ContextVar[str] = contextvars.ContextVar("replica", default="")

CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


@dataclass(frozen=True)
class Poll:
    replica: str
    started: float
    ended: float
    status: int
    updates: int


class ReplicaTelegramServer(FakeTelegramServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.polls: list[Poll] = []
        self.conflicts = 0
        # Which replica sent each message (by its message id).
        self.senders: dict[int, str] = {}
        self._polling: dict[str, asyncio.Future[None]] = {}

    def replica_base(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    def _add_routes(self, app: web.Application) -> None:
        super()._add_routes(app)
        app.router.add_post("/{replica}/bot{token}/{method}", self._replica_api)
        app.router.add_get("/{replica}/bot{token}/{method}", self._replica_api)

    async def _replica_api(self, request: web.Request) -> web.Response:
        token = _replica.set(request.match_info["replica"])
        try:
            return await self._api(request)
        finally:
            _replica.reset(token)

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        answer = await super()._m_sendmessage(params)
        if self.sent and self.sent[-1].text == params.get("text"):
            self.senders[self.sent[-1].message_id] = _replica.get()
        return answer

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        replica = _replica.get()
        for other, cut in self._polling.items():
            if not cut.done():
                cut.set_result(None)
                if other != replica:
                    self.conflicts += 1
        cut = asyncio.get_running_loop().create_future()
        self._polling[replica] = cut
        started = time.monotonic()
        answer = asyncio.ensure_future(super()._m_getupdates(params))
        try:
            await asyncio.wait({answer, cut}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not answer.done():
                answer.cancel()
        if not answer.done() or answer.cancelled():
            self.polls.append(Poll(replica, started, time.monotonic(), 409, 0))
            return _error(409, CONFLICT)
        result = answer.result()
        size = len(result) if isinstance(result, list) else 0
        self.polls.append(Poll(replica, started, time.monotonic(), 200, size))
        return result

    def pollers_in_turn(self) -> list[str]:
        """The replicas whose polls were answered, one entry per unbroken run of polls."""
        runs: list[str] = []
        for poll in sorted(self.polls, key=lambda p: p.ended):
            if poll.status == 200 and (not runs or runs[-1] != poll.replica):
                runs.append(poll.replica)
        return runs
