"""The fake Bot API as a benchmark subprocess: closed-loop chats driven inside the fake."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.standalone import serve_until_signalled
from tests.fakes.telegram_server import FakeTelegramServer

# A bench message's text is "c<chat>m<index>"; the reply quotes it ("echo: c3m7").
TOKEN_RE = re.compile(r"c(\d+)m(\d+)")
USER_BASE = 10_000


@dataclass(slots=True)
class Plan:
    """What the fake drives: `per_chat` messages for each chat, in a closed loop (the next
    message of a chat is queued when the first reply to the previous one arrives) or all
    queued at once (`burst`)."""

    chats: list[int]
    per_chat: int
    burst: bool
    queued_at: dict[tuple[int, int], float] = field(default_factory=dict)
    update_ids: dict[tuple[int, int], int] = field(default_factory=dict)
    picked_at: dict[int, float] = field(default_factory=dict)
    replies: dict[tuple[int, int], list[float]] = field(default_factory=dict)
    other: int = 0
    started_at: float = 0.0


class BenchBotApi(FakeTelegramServer):
    """FakeTelegramServer with an O(1) update queue (the base filters a list on every
    getUpdates, which is quadratic under a burst) and a bench tracker for sendMessage."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(None, **kwargs)
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self.plan: Plan | None = None
        self.get_updates_at: list[float] = []
        self.api_calls: collections.Counter[str] = collections.Counter()

    def _add_routes(self, app: web.Application) -> None:
        _routes(app, self)

    # ---- fast paths over the base class ----------------------------------------------

    def enqueue(self, update: dict[str, Any], *, assign_id: bool = True) -> dict[str, Any]:
        if assign_id and "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        self._queue.append(update)
        self._notify()
        return update

    @property
    def pending_updates(self) -> int:
        return len(self._queue)

    async def _api(self, request: web.Request) -> web.Response:
        self.api_calls[request.match_info["method"]] += 1
        response = await super()._api(request)
        # The base keeps every call: the bench only needs the counts.
        self.calls.clear()
        return response

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        self.get_updates_at.append(time.monotonic())
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            while self._queue and self._queue[0]["update_id"] < offset:
                self._queue.popleft()
        timeout = float(params.get("timeout") or 0)
        if not self._queue and timeout > 0 and not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await self.wait_for(lambda: bool(self._queue) or self._closing.is_set(), timeout)
        limit = int(params.get("limit") or 100)
        batch = [self._queue[i] for i in range(min(limit, len(self._queue)))]
        if self.plan is not None:
            now = time.monotonic()
            for update in batch:
                self.plan.picked_at.setdefault(update["update_id"], now)
        return batch

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        result = await super()._m_sendmessage(params)
        self.sent.clear()
        self.texts.clear()
        if not isinstance(result, web.Response):
            self._on_reply(str(params.get("text", "")))
        return result

    # ---- the bench -------------------------------------------------------------------

    def _queue_message(self, chat: int, index: int) -> None:
        assert self.plan is not None
        self.plan.queued_at[(chat, index)] = time.monotonic()
        update = self.enqueue(self.text_update(chat, USER_BASE + chat, f"c{chat}m{index}"))
        self.plan.update_ids[(chat, index)] = update["update_id"]

    def _on_reply(self, text: str) -> None:
        plan = self.plan
        match = TOKEN_RE.search(text)
        if plan is None or match is None:
            if plan is not None:
                plan.other += 1
            return
        key = (int(match.group(1)), int(match.group(2)))
        if key not in plan.queued_at:
            plan.other += 1
            return
        times = plan.replies.setdefault(key, [])
        times.append(time.monotonic())
        if len(times) == 1 and not plan.burst and key[1] + 1 < plan.per_chat:
            self._queue_message(key[0], key[1] + 1)

    def start_plan(self, chats: int, per_chat: int, burst: bool, first_chat: int) -> None:
        self.plan = Plan(list(range(first_chat, first_chat + chats)), per_chat, burst)
        self.plan.started_at = time.monotonic()
        if burst:
            # Round-robin over chats, like many people writing at once.
            for index in range(per_chat):
                for chat in self.plan.chats:
                    self._queue_message(chat, index)
        else:
            for chat in self.plan.chats:
                self._queue_message(chat, 0)

    def reset(self) -> None:
        self._queue.clear()
        self.plan = None
        self.get_updates_at.clear()
        self.api_calls.clear()
        self.webhook = None
        self.confirmed_offset = 0

    def progress(self) -> dict[str, Any]:
        plan = self.plan
        expected = len(plan.chats) * plan.per_chat if plan else 0
        answered = len(plan.replies) if plan else 0
        return {
            "expected": expected,
            "answered": answered,
            "pending_updates": len(self._queue),
            "get_updates": len(self.get_updates_at),
            "first_get_updates_at": self.get_updates_at[0] if self.get_updates_at else None,
        }

    def result(self) -> dict[str, Any]:
        plan = self.plan
        assert plan is not None
        first_poll = self.get_updates_at[0] if self.get_updates_at else plan.started_at
        latencies: list[float] = []
        pickups: list[float] = []
        duplicated = 0
        last = plan.started_at
        for key, queued in plan.queued_at.items():
            times = plan.replies.get(key)
            if not times:
                continue
            duplicated += len(times) - 1
            available = max(queued, first_poll)
            latencies.append(times[0] - available)
            picked = plan.picked_at.get(plan.update_ids.get(key, -1))
            if picked is not None:
                pickups.append(picked - available)
            last = max(last, times[0])
        expected = len(plan.chats) * plan.per_chat
        return {
            "expected": expected,
            "answered": len(plan.replies),
            "lost": expected - len(plan.replies),
            "duplicated": duplicated,
            "other_messages": plan.other,
            "started_at": plan.started_at,
            "first_get_updates_at": first_poll,
            "last_reply_at": last,
            "latencies": latencies,
            "pickups": pickups,
            "api_calls": dict(self.api_calls),
        }


def _routes(app: web.Application, fake: BenchBotApi) -> None:
    async def start(request: web.Request) -> web.Response:
        body = await request.json()
        fake.start_plan(
            int(body["chats"]),
            int(body["per_chat"]),
            bool(body.get("burst")),
            int(body.get("first_chat", 1)),
        )
        return web.json_response({"ok": True})

    async def progress(request: web.Request) -> web.Response:
        return web.json_response(fake.progress())

    async def result(request: web.Request) -> web.Response:
        return web.json_response(fake.result())

    async def reset(request: web.Request) -> web.Response:
        fake.reset()
        return web.json_response({"ok": True})

    app.router.add_post("/_bench/start", start)
    app.router.add_get("/_bench/progress", progress)
    app.router.add_get("/_bench/result", result)
    app.router.add_post("/_bench/reset", reset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve_until_signalled(BenchBotApi(port=args.port)))


if __name__ == "__main__":
    main()
