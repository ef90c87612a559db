"""`/api/v1/conversations` and the web chat's `/api/v1/chat/messages` and `/chat/press`."""

from __future__ import annotations

from aiohttp import web

from minibot.adapters.http.control_plane import params
from minibot.adapters.http.control_plane.api_errors import ApiError, json_response
from minibot.adapters.http.control_plane.api_models import ChatPost, ChatPress, MessagePost
from minibot.adapters.http.control_plane.deps import ControlPlaneDeps


class ConversationRoutes:
    def __init__(self, deps: ControlPlaneDeps) -> None:
        self._deps = deps

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/v1/conversations", self.list)
        router.add_get("/api/v1/conversations/{key}/messages", self.messages)
        router.add_post("/api/v1/conversations/{key}/messages", self.say)
        router.add_delete("/api/v1/conversations/{key}", self.reset)
        router.add_get("/api/v1/chat/messages", self.chat_transcript)
        router.add_post("/api/v1/chat/messages", self.chat_say)
        router.add_post("/api/v1/chat/press", self.chat_press)

    async def list(self, request: web.Request) -> web.Response:
        limit = params.query_int(request, "limit", 100, 1, 1000)
        rows = await self._deps.queries.conversations(limit)
        return json_response(
            {
                "conversations": [
                    {
                        "key": row.key,
                        "messages": row.messages,
                        "last_at": row.last_at.isoformat() if row.last_at else None,
                    }
                    for row in rows
                ]
            }
        )

    async def messages(self, request: web.Request) -> web.Response:
        key = params.conversation_key(request.match_info["key"])
        limit = params.query_int(request, "limit", 100, 1, 1000)
        rows = await self._deps.queries.messages(str(key), limit)
        return json_response(
            {
                "conversation": str(key),
                "messages": [
                    {"id": m.id, "role": m.role, "content": m.content, "at": m.at.isoformat()}
                    for m in rows
                ],
            }
        )

    async def say(self, request: web.Request) -> web.Response:
        """Says `text` as the conversation's owner (the chat's own user in a private
        chat), through the durable inbox: stored before the 202, answered once however
        often a POST with the same `message_id` is sent; the answer goes out through
        that conversation's channel."""
        key = params.conversation_key(request.match_info["key"])
        body = await params.body(request, MessagePost)
        message_id = params.client_message_id(request, body.message_id)
        if key.channel not in self._deps.channel_names:
            raise ApiError(404, "not_found", f"key: no channel {key.channel!r} is on", "key")
        if not self._deps.said.accepting:
            raise ApiError(409, "channel_closed", "the daemon is not taking messages now")
        await self._deps.said.say(key, message_id, body.text)
        return json_response({"conversation": str(key), "message_id": message_id}, 202)

    async def reset(self, request: web.Request) -> web.Response:
        key = params.conversation_key(request.match_info["key"])
        dropped = await self._deps.memory.clear(key)
        return json_response({"conversation": str(key), "forgotten_messages": dropped})

    async def chat_transcript(self, request: web.Request) -> web.Response:
        web_channel = self._deps.web
        return json_response(
            {
                "conversation": str(web_channel.conversation),
                "replies": [
                    {
                        "message_id": shown.message_id,
                        "text": shown.text,
                        "buttons": [{"label": b.label, "action": b.action} for b in shown.buttons],
                        "media": [
                            {"kind": m.kind.value, "url": m.url, "mime": m.mime_type}
                            for m in shown.media
                        ],
                    }
                    for shown in web_channel.transcript()
                ],
            }
        )

    async def chat_say(self, request: web.Request) -> web.Response:
        web_channel = self._deps.web
        if not web_channel.accepting:
            raise ApiError(409, "channel_closed", "the web channel is not taking messages now")
        body = await params.body(request, ChatPost)
        message_id = params.client_message_id(request, body.message_id)
        await web_channel.receive(message_id, body.text)
        return json_response(
            {"conversation": str(web_channel.conversation), "message_id": message_id}, 202
        )

    async def chat_press(self, request: web.Request) -> web.Response:
        web_channel = self._deps.web
        if not web_channel.accepting:
            raise ApiError(409, "channel_closed", "the web channel is not taking messages now")
        body = await params.body(request, ChatPress)
        if not await web_channel.press(body.message_id, body.action):
            raise ApiError(404, "no_such_button", "no message shown has a button with this action")
        return json_response(
            {
                "conversation": str(web_channel.conversation),
                "message_id": body.message_id,
                "action": body.action,
            },
            202,
        )
