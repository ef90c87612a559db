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
# A stream writes at most this often: events that come meanwhile go in the next write.
_WRITE_INTERVAL_SECONDS = 0.5
# How often a WebSocket stream looks whether its client has gone (its close is read apart).
_WS_POLL_SECONDS = 1.0


class LiveRoutes:
    def __init__(self, deps: ControlPlaneDeps) -> None:
        self._deps = deps
        self._frames: dict[tuple[int, bool], bytes] = {}
        self._texts: dict[tuple[int, bool], str] = {}

    def _frame(self, event: LiveEvent, with_content: bool) -> bytes:
        key = (event.id, with_content)
        frame = self._frames.get(key)
        if frame is None:
            if len(self._frames) >= _FRAME_CACHE_SIZE:
                self._frames.clear()
            frame = self._frames[key] = sse_frame(event, with_content=with_content)
        return frame

    def _text(self, event: LiveEvent, with_content: bool) -> str:
        key = (event.id, with_content)
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) >= _FRAME_CACHE_SIZE:
                self._texts.clear()
            text = self._texts[key] = fast_json.dumps(event.as_json(with_content=with_content))
        return text

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
            while (batch := await stream.next_batch(_HEARTBEAT_SECONDS)) is not None:
                if not batch:
                    await response.write(b": keep-alive\n\n")
                    continue
                # One write for every event queued since the last one.
                await response.write(b"".join(self._frame(e, with_content) for e in batch))
                # What comes meanwhile waits for the next write: at most one write per
                # stream per interval however fast events come; the first after a
                # quiet spell goes at once.
                await asyncio.sleep(_WRITE_INTERVAL_SECONDS)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        with_content = _with_content(request)
        ws = web.WebSocketResponse(heartbeat=_HEARTBEAT_SECONDS)
        await ws.prepare(request)
        # The client says nothing we act on; its messages are read only so a close
        # from its side ends the stream at once.
        reader = asyncio.create_task(self._until_closed(ws))
        try:
            async with self._deps.feed.stream() as stream:
                while not reader.done():
                    batch = await stream.next_batch(_WS_POLL_SECONDS)
                    if batch is None:
                        break
                    for event in batch:
                        await ws.send_str(self._text(event, with_content))
                    if batch:
                        await asyncio.sleep(_WRITE_INTERVAL_SECONDS)
        finally:
            reader.cancel()
        await ws.close()
        return ws

    @staticmethod
    async def _until_closed(ws: web.WebSocketResponse) -> None:
        async for message in ws:
            if message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
