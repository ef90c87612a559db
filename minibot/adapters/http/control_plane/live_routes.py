"""`/api/v1/events` (Server-Sent Events) and `/api/v1/ws` (WebSocket): the live feed, streamed."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSMsgType, web

from minibot.adapters.http.control_plane.deps import ControlPlaneDeps
from minibot.app.live.live_feed import LiveEvent
from minibot.shared import fast_json

# A comment line this often keeps proxies from closing an idle stream.
_HEARTBEAT_SECONDS = 15.0


def _with_content(request: web.Request) -> bool:
    return request.query.get("content") in ("1", "true")


def sse_frame(event: LiveEvent, *, with_content: bool) -> bytes:
    data = fast_json.dumps(event.as_json(with_content=with_content))
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n".encode()


# Frames kept per (event id, with content): each event is encoded once, not once per stream.
_FRAME_CACHE_SIZE = 1024


class LiveRoutes:
    def __init__(self, deps: ControlPlaneDeps) -> None:
        self._deps = deps
        self._frames: dict[tuple[int, bool], bytes] = {}

    def _frame(self, event: LiveEvent, with_content: bool) -> bytes:
        key = (event.id, with_content)
        frame = self._frames.get(key)
        if frame is None:
            if len(self._frames) >= _FRAME_CACHE_SIZE:
                self._frames.clear()
            frame = self._frames[key] = sse_frame(event, with_content=with_content)
        return frame

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/v1/events", self.events)
        router.add_get("/api/v1/ws", self.websocket)

    async def events(self, request: web.Request) -> web.StreamResponse:
        with_content = _with_content(request)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: pass each event on at once
            }
        )
        await response.prepare(request)
        await response.write(b": connected\n\n")
        async with self._deps.feed.stream() as stream:
            iterator = aiter(stream)
            while True:
                try:
                    event = await asyncio.wait_for(anext(iterator), _HEARTBEAT_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                except StopAsyncIteration:
                    break
                await response.write(self._frame(event, with_content))
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        with_content = _with_content(request)
        ws = web.WebSocketResponse(heartbeat=_HEARTBEAT_SECONDS)
        await ws.prepare(request)
        async with self._deps.feed.stream() as stream:
            # The client says nothing we act on; its messages are read only so a close
            # from its side ends the stream at once.
            reader = asyncio.create_task(self._until_closed(ws))
            iterator = aiter(stream)
            try:
                while True:
                    upcoming = asyncio.ensure_future(anext(iterator))
                    await asyncio.wait({upcoming, reader}, return_when=asyncio.FIRST_COMPLETED)
                    if not upcoming.done():
                        upcoming.cancel()
                        break
                    try:
                        event = upcoming.result()
                    except StopAsyncIteration:
                        break
                    await ws.send_str(fast_json.dumps(event.as_json(with_content=with_content)))
            finally:
                reader.cancel()
        await ws.close()
        return ws

    @staticmethod
    async def _until_closed(ws: web.WebSocketResponse) -> None:
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
