"""A loopback fake of the Slack Web API and a signed Events API sender, for slack-bolt and
slack_sdk over real HTTP in tests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

BOT_TOKEN = "xoxb-1111-2222-fakeSlackBotTokenValue"
APP_TOKEN = "xapp-1-A0001-3333-fakeSlackAppLevelToken"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM_ID = "T0001"

_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_MARKS = re.compile(r"(?<![\w*_~`])[*_~`]+|[*_~`]+(?![\w*_~`])")


@dataclass(frozen=True, slots=True)
class Posted:
    """A chat.postMessage or chat.update the fake accepted, as the bot sent it."""

    method: str
    channel: str
    ts: str
    text: str
    mrkdwn: bool
    thread_ts: str | None
    blocks: list[dict[str, Any]] | None
    at: float

    @property
    def visible_text(self) -> str:
        return visible_text(self.text, self.mrkdwn)

    @property
    def button_actions(self) -> list[str]:
        actions: list[str] = []
        for block in self.blocks or ():
            for element in block.get("elements", ()):
                if element.get("type") == "button":
                    actions.append(element["value"])
        return actions


@dataclass(slots=True)
class Uploaded:
    """A file the bot uploaded (files.getUploadURLExternal, then its bytes posted to the
    URL named); `shared` once files.completeUploadExternal put it in a channel."""

    file_id: str
    filename: str
    length: int
    data: bytes | None = None
    content_type: str = ""
    channel: str | None = None
    thread_ts: str | None = None
    title: str | None = None
    initial_comment: str | None = None

    @property
    def shared(self) -> bool:
        return self.channel is not None


@dataclass(slots=True)
class Fault:
    error: str
    status: int = 200
    retry_after: int | None = None
    times: int = 1


@dataclass(slots=True)
class Hold:
    """Calls of one method wait until released (a slow or stuck Slack)."""

    released: asyncio.Event = field(default_factory=asyncio.Event)
    waiting: int = 0
    # Released without effect: the calls held are answered with an error and not kept
    # (their caller is gone, as when the bot process was killed).
    dropped: bool = False


def visible_text(text: str, mrkdwn: bool) -> str:
    """What a person sees: mrkdwn's marks and link syntax gone, its escapes undone."""
    if mrkdwn:
        text = _LINK.sub(r"\2", text)
        text = _MARKS.sub("", text)
    return html.unescape(text)


class FakeSlackServer:
    """aiohttp server on 127.0.0.1 serving `/api/<method>` like Slack's Web API:
    `auth.test`, `chat.postMessage`, `chat.update`, `chat.postEphemeral`, `users.info`,
    `conversations.info`, `files.info`, and the files themselves (`add_file`; served at
    their `url_private_download` only with the bot token as Bearer, each download kept in
    `downloads`); the bot's own files by the external upload (`files.getUploadURLExternal`,
    the bytes posted to its `upload_url`, `files.completeUploadExternal`; kept in
    `uploads`, `fail_uploads` makes the next posts of bytes fail with a 500). A call
    without the bot token gets `invalid_auth`. `fail` makes
    the next calls of a method fail (a Slack error such as `channel_not_found`, a 429 with
    Retry-After, a 5xx); `hold` makes them wait. Every accepted message is kept in
    `posted` (and, per channel, `messages_in`)."""

    def __init__(self, *, token: str = BOT_TOKEN, app_token: str = APP_TOKEN) -> None:
        self.token = token
        self.app_token = app_token
        self.socket = FakeSocketMode(self)
        self.posted: list[Posted] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._faults: dict[str, list[Fault]] = {}
        self._holds: dict[str, Hold] = {}
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.files: dict[str, tuple[dict[str, Any], bytes]] = {}
        self.downloads: list[str] = []
        self.uploads: dict[str, Uploaded] = {}
        self._failing_uploads = 0
        self._file_ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._call)
        app.router.add_get("/socket", self.socket.serve)
        app.router.add_get("/files-pri/{file_id}/{name}", self._file)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for hold in self._holds.values():
            hold.released.set()
        await self.socket.close_all()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def fail(
        self,
        method: str,
        error: str,
        *,
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        self._faults.setdefault(method, []).append(Fault(error, status, retry_after, times))

    def hold(self, method: str) -> Hold:
        hold = self._holds[method] = Hold()
        return hold

    def release(self, method: str, *, drop: bool = False) -> None:
        hold = self._holds.pop(method, None)
        if hold is not None:
            hold.dropped = drop
            hold.released.set()

    def add_file(
        self, file_id: str, data: bytes, *, name: str, mimetype: str, **extra: Any
    ) -> dict[str, Any]:
        """A file a person uploaded; returns its file object, as a `message` event's
        `files` and `files.info` carry it (`extra`: `subtype`, `duration_ms`, a `size`
        that is not the data's...)."""
        url = f"http://127.0.0.1:{self.port}/files-pri/{file_id}/{name}"
        info: dict[str, Any] = {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(data),
            "mode": "hosted",
            "url_private": url,
            "url_private_download": url + "?download=1",
            **extra,
        }
        self.files[file_id] = (info, data)
        return info

    def fail_uploads(self, times: int = 1) -> None:
        self._failing_uploads += times

    def shared_files(self, channel: str) -> list[Uploaded]:
        """The files uploaded and shared in `channel`, in the order they were shared."""
        return [u for u in self.uploads.values() if u.channel == channel]

    async def _upload(self, request: web.Request) -> web.Response:
        uploaded = self.uploads.get(request.match_info["file_id"])
        if uploaded is None:
            return web.Response(status=404, text="unknown upload")
        if self._failing_uploads:
            self._failing_uploads -= 1
            return web.Response(status=500, text="upload failed")
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            field = form.get("file") or next(iter(form.values()), None)
            data = field.file.read() if isinstance(field, web.FileField) else b""
        else:
            data = await request.read()
        if len(data) != uploaded.length:
            return web.Response(status=400, text="length differs from the one announced")
        uploaded.data, uploaded.content_type = data, request.content_type
        return web.Response(text="OK - " + str(len(data)))

    async def _file(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=302, headers={"Location": "/login"})
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            return web.Response(status=404)
        self.downloads.append(request.match_info["file_id"])
        return web.Response(body=stored[1], content_type=stored[0]["mimetype"])

    def messages_in(self, channel: str, thread_ts: str | None = None) -> list[Posted]:
        """The messages as they show now in a channel (an update replaces its message),
        in the order they were first posted; with `thread_ts`, that thread's only."""
        shown: dict[str, Posted] = {}
        for message in self.posted:
            if message.channel != channel:
                continue
            if message.method == "chat.update":
                if message.ts in shown:
                    shown[message.ts] = Posted(
                        message.method,
                        message.channel,
                        message.ts,
                        message.text,
                        message.mrkdwn,
                        shown[message.ts].thread_ts,
                        message.blocks,
                        message.at,
                    )
                continue
            shown[message.ts] = message
        messages = list(shown.values())
        if thread_ts is not None:
            messages = [m for m in messages if m.thread_ts == thread_ts]
        return messages

    def count(self, method: str) -> int:
        return sum(1 for name, _ in self.calls if name == method)

    async def _call(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        self.calls.append((method, params))
        # apps.connections.open takes the app-level token, every other method the bot's.
        token = self.app_token if method == "apps.connections.open" else self.token
        if request.headers.get("Authorization") != f"Bearer {token}":
            return _error(
                "not_authed" if "Authorization" not in request.headers else "invalid_auth"
            )
        hold = self._holds.get(method)
        if hold is not None:
            hold.waiting += 1
            await hold.released.wait()
            if hold.dropped:
                return _error("request_timeout", status=503)
        fault = self._next_fault(method)
        if fault is not None:
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else None
            return _error(fault.error, status=fault.status, headers=headers)
        handler: Callable[[dict[str, Any]], web.Response] | None = getattr(
            self, "_" + method.replace(".", "_"), None
        )
        if handler is None:
            return _error("unknown_method")
        return handler(params)

    def _next_fault(self, method: str) -> Fault | None:
        faults = self._faults.get(method)
        if not faults:
            return None
        fault = faults[0]
        fault.times -= 1
        if fault.times <= 0:
            faults.pop(0)
        return fault

    def _auth_test(self, params: dict[str, Any]) -> web.Response:
        return _ok(user_id=BOT_USER_ID, bot_id=BOT_ID, team_id=TEAM_ID, user="minibot")

    def _chat_postMessage(self, params: dict[str, Any]) -> web.Response:
        return self._post("chat.postMessage", params, f"{1700000000 + next(self._ts)}.000100")

    def _chat_postEphemeral(self, params: dict[str, Any]) -> web.Response:
        self._post("chat.postEphemeral", params, f"{1700000000 + next(self._ts)}.000200")
        return _ok(message_ts="1.0")

    def _chat_update(self, params: dict[str, Any]) -> web.Response:
        ts = str(params.get("ts", ""))
        if not any(m.ts == ts for m in self.posted):
            return _error("message_not_found")
        return self._post("chat.update", params, ts)

    def _post(self, method: str, params: dict[str, Any], ts: str) -> web.Response:
        channel = str(params.get("channel", ""))
        text = params.get("text")
        if not channel:
            return _error("channel_not_found")
        if not isinstance(text, str) or not text:
            return _error("no_text")
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        mrkdwn = params.get("mrkdwn", True) not in (False, "false", "0")
        thread_ts = params.get("thread_ts")
        posted = Posted(method, channel, ts, text, mrkdwn, thread_ts, blocks, time.monotonic())
        self.posted.append(posted)
        return _ok(channel=channel, ts=ts, message={"text": text, "ts": ts})

    def _apps_connections_open(self, params: dict[str, Any]) -> web.Response:
        return _ok(url=self.socket.new_url())

    def _users_info(self, params: dict[str, Any]) -> web.Response:
        user = str(params.get("user", ""))
        return _ok(user={"id": user, "name": user.lower(), "real_name": f"Person {user}"})

    def _files_info(self, params: dict[str, Any]) -> web.Response:
        stored = self.files.get(str(params.get("file", "")))
        if stored is None:
            return _error("file_not_found")
        return _ok(file=stored[0])

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> web.Response:
        filename, length = params.get("filename"), params.get("length")
        if not filename or length is None or not str(length).isdigit():
            return _error("invalid_arguments")
        file_id = f"FBOT{next(self._file_ids):04d}"
        self.uploads[file_id] = Uploaded(file_id, str(filename), int(length))
        url = f"http://127.0.0.1:{self.port}/upload/v1/{file_id}"
        return _ok(upload_url=url, file_id=file_id)

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> web.Response:
        files = params.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        if not isinstance(files, list) or not files:
            return _error("invalid_arguments")
        done = []
        for item in files:
            uploaded = self.uploads.get(str(item.get("id")))
            if uploaded is None or uploaded.data is None:
                return _error("file_not_found")  # never uploaded: nothing to share
            uploaded.channel = str(params.get("channel_id") or "") or None
            uploaded.thread_ts = params.get("thread_ts")
            uploaded.title = item.get("title")
            uploaded.initial_comment = params.get("initial_comment")
            done.append({"id": uploaded.file_id, "title": uploaded.title})
        return _ok(files=done)

    def _conversations_info(self, params: dict[str, Any]) -> web.Response:
        channel = str(params.get("channel", ""))
        is_im = channel.startswith("D")
        return _ok(channel={"id": channel, "is_im": is_im, "is_channel": not is_im})


class FakeSocketMode:
    """Slack's Socket Mode side: `apps.connections.open` hands out a one-time
    `ws://.../socket?ticket=N` URL; a connection gets `hello`, then envelopes
    (`{"envelope_id", "type": "events_api" | "interactive", "payload", ...}`) that the app
    must acknowledge by sending back `{"envelope_id": ...}`. An envelope not acknowledged
    is sent again by `redeliver` (as Slack retries, with `retry_attempt` counted up);
    `disconnect` asks the app to reconnect, as Slack does every few hours."""

    def __init__(self, server: FakeSlackServer) -> None:
        self._server = server
        self._tickets = itertools.count(1)
        self._issued: set[str] = set()
        self._ids = itertools.count(1)
        self.connections: list[web.WebSocketResponse] = []
        self.connected = asyncio.Event()
        self.unacked: dict[str, dict[str, Any]] = {}
        self.acked: list[str] = []
        self._acked_changed = asyncio.Event()

    def new_url(self) -> str:
        ticket = str(next(self._tickets))
        self._issued.add(ticket)
        return f"ws://127.0.0.1:{self._server.port}/socket?ticket={ticket}"

    @property
    def current(self) -> web.WebSocketResponse | None:
        live = [ws for ws in self.connections if not ws.closed]
        return live[-1] if live else None

    async def serve(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._issued:
            return web.Response(status=401, text="invalid ticket")
        self._issued.discard(ticket)  # a URL is good for one connection
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.connections.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}})
        self.connected.set()
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                envelope_id = json.loads(message.data).get("envelope_id")
                if isinstance(envelope_id, str):
                    self.unacked.pop(envelope_id, None)
                    self.acked.append(envelope_id)
                    self._acked_changed.set()
        return ws

    async def wait_connected(self, count: int = 1, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while self.current is None or len(self.connections) < count:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    async def send(self, kind: str, payload: dict[str, Any]) -> str:
        """Sends one envelope on the live connection; returns its envelope id."""
        envelope_id = f"env-{next(self._ids)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind == "interactive",
            "retry_attempt": 0,
            "retry_reason": "",
        }
        self.unacked[envelope_id] = envelope
        await self._send(envelope)
        return envelope_id

    async def event(self, body: dict[str, Any]) -> str:
        return await self.send("events_api", body)

    async def interaction(self, payload: dict[str, Any]) -> str:
        return await self.send("interactive", payload)

    async def redeliver(self) -> int:
        """Sends every envelope not acknowledged again; returns how many."""
        envelopes = list(self.unacked.values())
        for envelope in envelopes:
            envelope["retry_attempt"] += 1
            envelope["retry_reason"] = "timeout"
            await self._send(envelope)
        return len(envelopes)

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        await self._send({"type": "disconnect", "reason": reason, "debug_info": {}})

    async def wait_acked(self, envelope_id: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while envelope_id not in self.acked:
                self._acked_changed.clear()
                await self._acked_changed.wait()

    async def close_all(self) -> None:
        for ws in self.connections:
            if not ws.closed:
                await ws.close()

    async def _send(self, message: dict[str, Any]) -> None:
        ws = self.current
        if ws is None:
            raise RuntimeError("no Socket Mode connection is open")
        await ws.send_json(message)


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
    elif request.can_read_body:
        params.update(await request.post())
    return params


def _ok(**fields: Any) -> web.Response:
    return web.json_response({"ok": True, **fields})


def _error(error: str, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status, headers=headers)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The Events API signature: HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SignedEventSender:
    """Posts to the app's Request URL as Slack does: a JSON event or a form-encoded
    interaction, signed with the signing secret (or not, or badly, or stale)."""

    def __init__(self, url: str, secret: str = SIGNING_SECRET) -> None:
        self.url = url
        self.secret = secret
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)

    async def post(
        self,
        body: bytes,
        *,
        content_type: str = "application/json",
        timestamp: int | None = None,
        sign: bool = True,
        secret: str | None = None,
        retry_num: int | None = None,
    ) -> tuple[int, str]:
        moment = str(int(time.time()) if timestamp is None else timestamp)
        headers = {"Content-Type": content_type}
        if sign:
            headers["X-Slack-Request-Timestamp"] = moment
            headers["X-Slack-Signature"] = signature(secret or self.secret, moment, body)
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.url, data=body, headers=headers) as response,
        ):
            return response.status, await response.text()

    async def event(self, event: dict[str, Any], **options: Any) -> tuple[int, str]:
        return await self.post(json.dumps(event).encode(), **options)

    async def interaction(self, payload: dict[str, Any], **options: Any) -> tuple[int, str]:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.post(body, content_type="application/x-www-form-urlencoded", **options)

    def next_ts(self) -> str:
        return f"{1690000000 + next(self._ts)}.000001"

    def message(
        self,
        text: str,
        *,
        user: str,
        channel: str,
        channel_type: str = "im",
        ts: str | None = None,
        thread_ts: str | None = None,
        event_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """An `event_callback` carrying one `message` event."""
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts or self.next_ts(),
            "channel_type": channel_type,
            **extra,
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        return {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A0001",
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
        }

    def press(
        self,
        action: str,
        *,
        user: str,
        channel: str,
        message_ts: str,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        """A `block_actions` interaction: a person pressed a button carrying `action`."""
        message: dict[str, Any] = {"ts": message_ts, "type": "message"}
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        return {
            "type": "block_actions",
            "team": {"id": TEAM_ID},
            "user": {"id": user, "name": user.lower()},
            "api_app_id": "A0001",
            "token": "legacy-verification-token",
            "trigger_id": f"trigger-{next(self._ids)}",
            "channel": {"id": channel},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
            "message": message,
            "actions": [
                {
                    "type": "button",
                    "action_id": "minibot-button",
                    "block_id": "actions",
                    "value": action,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
