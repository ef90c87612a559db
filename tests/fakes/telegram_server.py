"""A loopback fake of the Telegram Bot API, for aiogram over real HTTP in tests."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import html
import itertools
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.standalone import serve_until_signalled

DEFAULT_TOKEN = "123456:TEST-fake-token-abcdefghijklmnopqrstuvwxyz"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT_CHARS = 4096
CONFIGURED = object()  # push_webhook: send the secret set by setWebhook

# Fields aiogram sends as JSON text inside a form body.
# fmt: off
_JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "reply_parameters", "scope",
                "entities", "link_preview_options"}
_INT_FIELDS = {"offset", "limit", "timeout", "message_id", "reply_to_message_id"}
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
         "blockquote", "tg-spoiler", "span", "tg-emoji"}
# fmt: on
_TAG = re.compile(r"<(/?)([a-zA-Z][\w-]*)([^<>]*)>|<|&(#\d+|#x[0-9a-fA-F]+|\w+);|&")


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A sendMessage or editMessageText the fake accepted; `text` is as the bot sent it."""

    method: str
    chat_id: int | str
    message_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    at: float
    reply_to_message_id: int | None = None
    # The forum topic it went to (sendMessage's message_thread_id).
    message_thread_id: int | None = None

    @property
    def visible_text(self) -> str:
        return visible_text(self.text, self.parse_mode)


@dataclass(frozen=True, slots=True)
class SentMedia:
    """A sendVoice or sendPhoto the fake accepted, with the uploaded file's bytes."""

    method: str
    chat_id: int | str
    message_id: int
    data: bytes
    file_name: str
    caption: str | None


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file people "sent": getFile tells its path, `/file/bot<token>/<path>` serves it."""

    file_id: str
    data: bytes
    path: str


# Telegram hands bots files of up to 20 MB through getFile.
MAX_GETFILE_BYTES = 20_000_000


@dataclass(frozen=True, slots=True)
class ApiCall:
    method: str
    params: dict[str, Any]
    at: float


@dataclass(slots=True)
class Fault:
    status: int
    description: str
    retry_after: int | None = None


@dataclass(slots=True)
class Hold:
    """Calls of one method past the first `passes` wait until released."""

    passes: int
    released: bool = False
    drop: bool = False
    waiting: int = 0


def check_html(text: str) -> str | None:
    """Why Telegram would refuse `text` as HTML, or None when it parses."""
    stack: list[str] = []
    for match in _TAG.finditer(text):
        whole = match.group(0)
        if whole == "<" or whole == "&":
            return f"unexpected {whole!r} at byte offset {match.start()}"
        if whole.startswith("&"):
            name = match.group(4)
            if not name.startswith("#") and name not in {"lt", "gt", "amp", "quot"}:
                return f"unsupported entity &{name};"
            continue
        closing, tag = match.group(1), match.group(2).lower()
        if tag not in _TAGS:
            return f'unsupported start tag "{tag}" at byte offset {match.start()}'
        if not closing:
            stack.append(tag)
        elif not stack or stack.pop() != tag:
            return f'unmatched end tag at byte offset {match.start()}, expected "</{tag}>"'
    return f'can\'t find end tag corresponding to start tag "{stack[-1]}"' if stack else None


def visible_text(text: str, parse_mode: str | None) -> str:
    if parse_mode != "HTML":
        return text
    return html.unescape(re.sub(r"<[^<>]*>", "", text))


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegramServer:
    """aiohttp server on 127.0.0.1 serving `/bot<token>/<method>` like the Bot API.

    With `token=None` any well-formed token is accepted (handy as a subprocess). Updates
    are queued with `enqueue_*`, served by getUpdates (offset confirms, long-poll timeout
    honoured) or pushed to the webhook with `push_webhook`. `fail` injects errors and
    429s per method, `fail_for` answers every call of a method with one for a while (an
    outage), and `hold` keeps calls of a method waiting (to crash a client
    mid-delivery). Every accepted send and edit is kept in `sent`/`edits`.
    """

    def __init__(
        self,
        token: str | None = DEFAULT_TOKEN,
        *,
        bot_username: str = "minibot_test_bot",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int((token or DEFAULT_TOKEN).split(":")[0])
        self.host = host
        self.port = port
        self.calls: list[ApiCall] = []
        self.sent: list[SentMessage] = []
        self.edits: list[SentMessage] = []
        self.texts: dict[tuple[str, int], tuple[str, str | None, Any]] = {}
        self.webhook: dict[str, Any] | None = None
        self.commands: list[dict[str, Any]] = []
        self.media_sent: list[SentMedia] = []
        self.files: dict[str, StoredFile] = {}
        self.downloads: list[str] = []  # file paths fetched from the file URL
        self.confirmed_offset = 0
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._faults: dict[str, collections.deque[Fault]] = collections.defaultdict(
            collections.deque
        )
        self._holds: dict[str, Hold] = {}
        self._outages: dict[str, tuple[float, Fault]] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._add_routes(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    def _add_routes(self, app: web.Application) -> None:
        """The routes beside the Bot API: the control endpoints (a subclass may swap them)."""
        _ControlRoutes(self).add_to(app)

    async def stop(self) -> None:
        self._closing.set()
        self._notify()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeTelegramServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---- scripting -------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int = 500,
        description: str = "Internal Server Error",
        *,
        times: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` calls of `method` with this error."""
        for _ in range(times):
            self._faults[method].append(Fault(status, description, retry_after))

    def rate_limit(self, method: str, retry_after: int = 1, *, times: int = 1) -> None:
        self.fail(
            method,
            429,
            f"Too Many Requests: retry after {retry_after}",
            times=times,
            retry_after=retry_after,
        )

    def fail_for(
        self,
        method: str,
        status: int,
        description: str,
        *,
        seconds: float | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer every call of `method` with this error for `seconds` from now (None:
        until `heal`), as Telegram does through a long rate limit or a revoked token."""
        until = math.inf if seconds is None else time.monotonic() + seconds
        self._outages[method] = (until, Fault(status, description, retry_after))

    def rate_limit_for(self, method: str, seconds: float, *, retry_after: int = 1) -> None:
        self.fail_for(
            method,
            429,
            f"Too Many Requests: retry after {retry_after}",
            seconds=seconds,
            retry_after=retry_after,
        )

    def heal(self, method: str) -> None:
        """End an outage set by `fail_for`."""
        self._outages.pop(method, None)

    def hold(self, method: str, *, after: int = 0) -> None:
        """Let the next `after` calls of `method` through, then keep every later call
        waiting (seen in `calls`, not answered, nothing recorded) until `release`."""
        self._holds[method] = Hold(after)

    def release(self, method: str, *, drop: bool = False) -> None:
        """End a hold: the waiting calls go on, or with `drop` are answered 502 with
        nothing recorded (as if they never reached Telegram)."""
        hold = self._holds.pop(method, None)
        if hold is not None:
            hold.released, hold.drop = True, drop
            self._notify()

    def held(self, method: str) -> int:
        """How many calls of `method` are waiting on a hold right now."""
        hold = self._holds.get(method)
        return hold.waiting if hold is not None else 0

    def enqueue(self, update: dict[str, Any], *, assign_id: bool = True) -> dict[str, Any]:
        """Queue any update as is; an `update_id` is added when missing and `assign_id`."""
        if assign_id and isinstance(update, dict) and "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._notify()
        return update

    def enqueue_text(self, chat_id: int, user_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        return self.enqueue(self.text_update(chat_id, user_id, text, **kwargs))

    def text_update(
        self,
        chat_id: int,
        user_id: int,
        text: str | None,
        *,
        chat_type: str | None = None,
        first_name: str = "Ada",
        reply_to: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An update of a message (text, or `extra` fields such as a sticker)."""
        kind = chat_type or ("private" if chat_id > 0 else "supergroup")
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind != "private":
            chat["title"] = "Test group"
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": first_name},
        }
        if text is not None:
            message["text"] = text
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(extra or {})
        return {"update_id": next(self._update_ids), "message": message}

    def bot_message(self, sent: SentMessage) -> dict[str, Any]:
        """A message the bot sent, as it appears in `reply_to_message`."""
        chat_id = int(sent.chat_id)
        return {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": self._me(),
            "text": sent.visible_text,
        }

    def enqueue_sticker(self, chat_id: int, user_id: int) -> dict[str, Any]:
        sticker = {
            "file_id": "s1",
            "file_unique_id": "u1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return self.enqueue(self.text_update(chat_id, user_id, None, extra={"sticker": sticker}))

    def add_file(self, data: bytes, *, file_id: str | None = None, suffix: str = "bin") -> str:
        """Keep a file as if a person uploaded it; returns its file_id."""
        file_id = file_id or f"file-{len(self.files) + 1}"
        self.files[file_id] = StoredFile(file_id, data, f"media/{file_id}.{suffix}")
        return file_id

    def enqueue_media(
        self,
        chat_id: int,
        user_id: int,
        field: str,
        value: Any,
        *,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A message carrying `field` (voice, audio, video_note, photo, document)."""
        extra: dict[str, Any] = {field: value}
        if caption is not None:
            extra["caption"] = caption
        return self.enqueue(self.text_update(chat_id, user_id, None, extra=extra))

    def enqueue_voice(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        *,
        duration: int = 3,
        file_size: int | None = None,
    ) -> str:
        """A voice note whose bytes getFile and the file URL serve; returns its file_id."""
        file_id = self.add_file(data, suffix="oga")
        voice = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data) if file_size is None else file_size,
        }
        self.enqueue_media(chat_id, user_id, "voice", voice)
        return file_id

    def enqueue_photo(
        self, chat_id: int, user_id: int, data: bytes, *, caption: str | None = None
    ) -> str:
        file_id = self.add_file(data, suffix="jpg")
        small = self.add_file(data[:16], suffix="jpg")
        sizes = [
            {"file_id": small, "file_unique_id": f"u-{small}", "width": 90, "height": 90},
            {
                "file_id": file_id,
                "file_unique_id": f"u-{file_id}",
                "width": 800,
                "height": 600,
                "file_size": len(data),
            },
        ]
        self.enqueue_media(chat_id, user_id, "photo", sizes, caption=caption)
        return file_id

    def enqueue_document(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        file_name: str,
        mime_type: str,
        *,
        caption: str | None = None,
    ) -> str:
        file_id = self.add_file(data, suffix=file_name.rsplit(".", 1)[-1])
        document = {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        self.enqueue_media(chat_id, user_id, "document", document, caption=caption)
        return file_id

    def media_to(self, chat_id: int | str) -> list[SentMedia]:
        return [m for m in self.media_sent if str(m.chat_id) == str(chat_id)]

    def enqueue_callback(
        self, chat_id: int, user_id: int, data: str, *, message_id: int = 1
    ) -> dict[str, Any]:
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "from": self._me(),
            "text": "buttons",
        }
        query = {
            "id": f"cq{next(self._update_ids)}",
            "chat_instance": "ci",
            "data": data,
            "from": {"id": user_id, "is_bot": False, "first_name": "Ada"},
            "message": message,
        }
        return self.enqueue({"callback_query": query})

    async def push_webhook(self, update: dict[str, Any], *, secret: Any = CONFIGURED) -> int:
        """POST `update` to the webhook set by setWebhook; returns the HTTP status."""
        return await self.push_webhook_body(json.dumps(update).encode(), secret=secret)

    async def push_webhook_body(self, body: bytes, *, secret: Any = CONFIGURED) -> int:
        """POST `body` as it is (JSON or not) to the webhook; returns the HTTP status."""
        if self.webhook is None:
            raise RuntimeError("no webhook is set")
        if secret is CONFIGURED:
            secret = self.webhook.get("secret_token")
        headers = {SECRET_HEADER: secret} if secret else {}
        headers["Content-Type"] = "application/json"
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(self.webhook["url"], data=body, headers=headers) as response,
        ):
            await response.read()
            return response.status

    # ---- assertions ------------------------------------------------------------------

    def messages_to(self, chat_id: int | str) -> list[SentMessage]:
        return [m for m in self.sent if str(m.chat_id) == str(chat_id)]

    def edits_in(self, chat_id: int | str) -> list[SentMessage]:
        return [m for m in self.edits if str(m.chat_id) == str(chat_id)]

    def calls_of(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def current_text(self, chat_id: int | str, message_id: int) -> str:
        text, parse_mode, _ = self.texts[(str(chat_id), message_id)]
        return visible_text(text, parse_mode)

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float | None = 10.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until `predicate` holds; it is checked after every change to the fake."""

        async def until() -> None:
            while not predicate():
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)

    async def wait_for_messages(
        self,
        chat_id: int | str,
        count: int,
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        await self.wait_for(lambda: len(self.messages_to(chat_id)) >= count, timeout)
        return self.messages_to(chat_id)

    # ---- the API ---------------------------------------------------------------------

    def _notify(self) -> None:
        # Waiters hold the old event: setting it wakes them all, and they wait on the
        # fresh one next.
        self._changed.set()
        self._changed = asyncio.Event()

    def _me(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "minibot",
            "username": self.bot_username,
        }

    async def _api(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if (self.token is not None and token != self.token) or ":" not in token:
            return _error(401, "Unauthorized")
        params = await _params(request)
        self.calls.append(ApiCall(method, params, time.monotonic()))
        try:
            hold = self._holds.get(method)
            if hold is not None and hold.passes > 0:
                hold.passes -= 1
            elif hold is not None and not await self._wait_out(hold):
                return _error(502, "Bad Gateway")
            outage = self._outages.get(method)
            if outage is not None and time.monotonic() < outage[0]:
                fault = outage[1]
                return _error(fault.status, fault.description, fault.retry_after)
            faults = self._faults.get(method)
            if faults:
                fault = faults.popleft()
                return _error(fault.status, fault.description, fault.retry_after)
            handler = getattr(self, f"_m_{method.lower()}", None)
            if handler is None:
                return _error(404, "Not Found")
            result = await handler(params)
            if isinstance(result, web.Response):
                return result
            return web.json_response({"ok": True, "result": result})
        finally:
            self._notify()

    async def _wait_out(self, hold: Hold) -> bool:
        """Wait for the hold to end; False when the call is to be dropped."""
        hold.waiting += 1
        self._notify()
        try:
            await self.wait_for(lambda: hold.released or self._closing.is_set(), None)
        finally:
            hold.waiting -= 1
        return not hold.drop and not self._closing.is_set()

    async def _m_getme(self, params: dict[str, Any]) -> Any:
        return self._me()

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self._updates = [u for u in self._updates if _update_id(u) >= offset]
        timeout = float(params.get("timeout") or 0)
        if not self._updates and timeout > 0 and not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await self.wait_for(lambda: bool(self._updates) or self._closing.is_set(), timeout)
        batch = self._updates[: int(params.get("limit") or 100)]
        # An update without a usable id can never be confirmed: serve it once.
        self._updates = [u for u in self._updates if not (u in batch and _update_id(u) < 0)]
        return batch

    async def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        if not params.get("url"):
            self.webhook = None
            return True
        self.webhook = {
            "url": params["url"],
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates"),
        }
        return True

    async def _m_deletewebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        return True

    async def _m_getwebhookinfo(self, params: dict[str, Any]) -> Any:
        url = self.webhook["url"] if self.webhook else ""
        return {
            "url": url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _m_setmycommands(self, params: dict[str, Any]) -> Any:
        self.commands = list(params.get("commands") or [])
        return True

    async def _file(self, request: web.Request) -> web.Response:
        token, path = request.match_info["token"], request.match_info["path"]
        if (self.token is not None and token != self.token) or ":" not in token:
            return _error(401, "Unauthorized")
        found = next((f for f in self.files.values() if f.path == path), None)
        if found is None:
            return web.Response(status=404, text="Not Found")
        self.downloads.append(path)
        self._notify()
        return web.Response(body=found.data, content_type="application/octet-stream")

    async def _m_getfile(self, params: dict[str, Any]) -> Any:
        found = self.files.get(str(params.get("file_id")))
        if found is None:
            return _error(400, "Bad Request: invalid file_id")
        if len(found.data) > MAX_GETFILE_BYTES:
            return _error(400, "Bad Request: file is too big")
        return {
            "file_id": found.file_id,
            "file_unique_id": f"u-{found.file_id}",
            "file_size": len(found.data),
            "file_path": found.path,
        }

    async def _m_sendvoice(self, params: dict[str, Any]) -> Any:
        return self._media("sendVoice", "voice", params)

    async def _m_sendphoto(self, params: dict[str, Any]) -> Any:
        return self._media("sendPhoto", "photo", params)

    def _media(self, method: str, field: str, params: dict[str, Any]) -> Any:
        if "chat_id" not in params:
            return _error(400, "Bad Request: chat_id is empty")
        upload = params.get(field)
        if not isinstance(upload, _Upload) or not upload.data:
            return _error(400, f"Bad Request: there is no {field} in the request")
        sent = SentMedia(
            method,
            params["chat_id"],
            next(self._message_ids),
            upload.data,
            upload.file_name,
            params.get("caption"),
        )
        self.media_sent.append(sent)
        numeric = int(sent.chat_id)
        return {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": numeric, "type": "private" if numeric > 0 else "supergroup"},
            "from": self._me(),
            **({"caption": sent.caption} if sent.caption else {}),
        }

    async def _m_sendchataction(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> Any:
        return True

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        refusal = _check_text(params)
        if refusal is not None:
            return refusal
        chat_id = params["chat_id"]
        reply_to = params.get("reply_to_message_id") or (
            (params.get("reply_parameters") or {}).get("message_id")
        )
        message = self._record("sendMessage", params, next(self._message_ids), reply_to)
        self.sent.append(message)
        return self._message_json(chat_id, message)

    async def _m_editmessagetext(self, params: dict[str, Any]) -> Any:
        refusal = _check_text(params)
        if refusal is not None:
            return refusal
        key = (str(params.get("chat_id")), int(params.get("message_id") or 0))
        if key not in self.texts:
            return _error(400, "Bad Request: message to edit not found")
        if self.texts[key] == (
            params["text"],
            params.get("parse_mode"),
            params.get("reply_markup"),
        ):
            return _error(
                400,
                "Bad Request: message is not modified: specified new message "
                "content and reply markup are exactly the same as a current content "
                "and reply markup of the message",
            )
        message = self._record("editMessageText", params, key[1], None)
        self.edits.append(message)
        return self._message_json(params["chat_id"], message)

    def _record(
        self, method: str, params: dict[str, Any], message_id: int, reply_to: Any
    ) -> SentMessage:
        chat_id, text, mode = params["chat_id"], params["text"], params.get("parse_mode")
        markup = params.get("reply_markup")
        self.texts[(str(chat_id), message_id)] = (text, mode, markup)
        return SentMessage(
            method,
            chat_id,
            message_id,
            text,
            mode,
            markup,
            time.monotonic(),
            int(reply_to) if reply_to else None,
            int(params["message_thread_id"]) if params.get("message_thread_id") else None,
        )

    def _message_json(self, chat_id: Any, message: SentMessage) -> dict[str, Any]:
        numeric = int(chat_id)
        return {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": {"id": numeric, "type": "private" if numeric > 0 else "supergroup"},
            "from": self._me(),
            "text": message.visible_text,
        }


def _check_text(params: dict[str, Any]) -> web.Response | None:
    if "chat_id" not in params:
        return _error(400, "Bad Request: chat_id is empty")
    text = params.get("text") or ""
    if params.get("parse_mode") == "HTML" and (why := check_html(text)) is not None:
        return _error(400, f"Bad Request: can't parse entities: {why}")
    visible = visible_text(text, params.get("parse_mode"))
    if not visible.strip():
        return _error(400, "Bad Request: message text is empty")
    if utf16_len(visible) > MAX_TEXT_CHARS:
        return _error(400, "Bad Request: message is too long")
    return None


def _form_fields(form: Any) -> dict[str, Any]:
    """A form's text fields, and its uploaded files (sendVoice, sendPhoto): aiogram
    names a file in its field as attach://<id> and sends the bytes in a part of that id."""
    fields: dict[str, Any] = {}
    for key, value in form.items():
        if isinstance(value, str):
            fields[key] = value
        elif isinstance(value, web.FileField):
            fields[key] = _Upload(value.file.read(), value.filename)
    for key, value in list(fields.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            attached = fields.get(value.removeprefix("attach://"))
            if isinstance(attached, _Upload):
                fields[key] = attached
    return fields


@dataclass(frozen=True, slots=True)
class _Upload:
    data: bytes
    file_name: str

    def __repr__(self) -> str:
        return f"<upload {self.file_name} {len(self.data)} bytes>"


def _update_id(update: dict[str, Any]) -> int:
    value = update.get("update_id") if isinstance(update, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)


async def _params(request: web.Request) -> dict[str, Any]:
    """Parameters from the query, a JSON body or a form (aiogram sends multipart forms)."""
    params: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            params.update(_form_fields(await request.post()))
    for key in _JSON_FIELDS & params.keys():
        if isinstance(params[key], str):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(params[key])
    for key in (_INT_FIELDS | {"chat_id"}) & params.keys():
        with contextlib.suppress(TypeError, ValueError):
            params[key] = int(params[key])
    return params


class _ControlRoutes:
    """HTTP control endpoints, for driving the fake from another process."""

    def __init__(self, fake: FakeTelegramServer) -> None:
        self._fake = fake

    def add_to(self, app: web.Application) -> None:
        app.router.add_post("/_control/updates", self.updates)
        app.router.add_post("/_control/message", self.message)
        app.router.add_get("/_control/sent", self.sent)
        app.router.add_get("/_control/calls", self.calls)
        app.router.add_post("/_control/fail", self.fail)
        app.router.add_post("/_control/webhook", self.push)
        app.router.add_post("/_control/hold", self.hold)
        app.router.add_post("/_control/release", self.release)
        app.router.add_get("/_control/state", self.state)

    async def updates(self, request: web.Request) -> web.Response:
        body = await request.json()
        items = body if isinstance(body, list) else [body]
        return web.json_response([self._fake.enqueue(item) for item in items])

    async def message(self, request: web.Request) -> web.Response:
        body = await request.json()
        update = self._fake.text_update(
            int(body["chat_id"]),
            int(body["user_id"]),
            body.get("text"),
            chat_type=body.get("chat_type"),
        )
        return web.json_response(self._fake.enqueue(update))

    async def sent(self, request: web.Request) -> web.Response:
        chat_id = request.query.get("chat_id")

        def pick(items: list[SentMessage]) -> list[dict[str, Any]]:
            chosen = [m for m in items if chat_id is None or str(m.chat_id) == chat_id]
            return [asdict(m) | {"visible_text": m.visible_text} for m in chosen]

        return web.json_response({"sent": pick(self._fake.sent), "edits": pick(self._fake.edits)})

    async def calls(self, request: web.Request) -> web.Response:
        method = request.query.get("method")
        chosen = [c for c in self._fake.calls if method is None or c.method == method]
        return web.json_response([asdict(c) for c in chosen], dumps=_dumps_uploads)

    async def fail(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._fake.fail(
            body["method"],
            int(body.get("status", 500)),
            body.get("description", "Internal Server Error"),
            times=int(body.get("times", 1)),
            retry_after=body.get("retry_after"),
        )
        return web.json_response({"ok": True})

    async def push(self, request: web.Request) -> web.Response:
        body = await request.json()
        secret = body.get("secret", CONFIGURED)
        return web.json_response(
            {"status": await self._fake.push_webhook(body["update"], secret=secret)}
        )

    async def hold(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._fake.hold(body["method"], after=int(body.get("after", 0)))
        return web.json_response({"ok": True})

    async def release(self, request: web.Request) -> web.Response:
        body = await request.json()
        held = self._fake.held(body["method"])
        self._fake.release(body["method"], drop=bool(body.get("drop", False)))
        return web.json_response({"ok": True, "held": held})

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "webhook": self._fake.webhook,
                "pending_updates": self._fake.pending_updates,
                "confirmed_offset": self._fake.confirmed_offset,
                "commands": self._fake.commands,
            }
        )


def _dumps_uploads(value: Any) -> str:
    return json.dumps(value, default=repr)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API on loopback")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=None, help="accept only this token (default: any)")
    args = parser.parse_args()
    asyncio.run(
        serve_until_signalled(FakeTelegramServer(args.token, host=args.host, port=args.port))
    )


if __name__ == "__main__":
    main()
