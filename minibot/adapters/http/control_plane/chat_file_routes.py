"""The web chat's files: `/api/v1/chat/files` in (recordings, photos, documents), media out."""

from __future__ import annotations

import math
import re
import uuid

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from minibot.adapters.http.control_plane.api_errors import ApiError, json_response
from minibot.adapters.http.control_plane.deps import ControlPlaneDeps
from minibot.core.media import MediaAttachment, MediaKind

# The form's other fields and its part headers, on top of the file's own size.
_FORM_OVERHEAD_BYTES = 64 * 1024
_MAX_FIELD_CHARS = 4000
_CHUNK_BYTES = 64 * 1024
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# What a browser's recorder makes, by the container it names: Whisper reads all of them.
_RECORDING_NAMES = {
    "audio/webm": "voice.webm",
    "audio/ogg": "voice.ogg",
    "audio/mp4": "voice.mp4",
    "audio/mpeg": "voice.mp3",
    "audio/wav": "voice.wav",
}
# The images shown to the model, known by their first bytes (the page's type is a claim).
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


class ChatFileRoutes:
    """`POST /api/v1/chat/files`: a multipart form with `file` and optionally `text` (a
    caption), `message_id` (chosen by the page; the same one posted twice is answered
    once), `voice` = 1 for a recording made on the page and its `duration_seconds`.
    A body larger than `[media] max_file_bytes` (plus a little for the form) is refused
    with 413 from its Content-Length before any of it is read, and cut off at that size
    when it comes without one. Authentication and the CSRF token are the control
    plane's middleware's, as for every POST.

    `GET /api/v1/chat/media/{id}`: a voice note or picture minibot sent on the web chat,
    from the channel's shelf; nothing a person uploaded is ever served."""

    def __init__(self, deps: ControlPlaneDeps) -> None:
        self._deps = deps

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/v1/chat/files", self.upload)
        router.add_get("/api/v1/chat/media/{media_id}", self.media)

    async def upload(self, request: web.Request) -> web.Response:
        web_channel = self._deps.web
        max_bytes = self._deps.max_upload_bytes
        if not web_channel.accepts_files or max_bytes <= 0:
            raise ApiError(409, "files_off", "files are not taken here ([media] enabled = false)")
        if not web_channel.accepting:
            raise ApiError(409, "channel_closed", "the web channel is not taking messages now")
        length = request.content_length
        if length is not None and length > max_bytes + _FORM_OVERHEAD_BYTES:
            raise _too_large(max_bytes)
        if not request.content_type.startswith("multipart/form-data"):
            raise ApiError(415, "unsupported_media_type", "send the file as multipart/form-data")
        form = await _read_form(request, max_bytes)
        message_id = form.fields.get("message_id") or uuid.uuid4().hex[:16]
        if not _MESSAGE_ID.match(message_id):
            raise ApiError(
                422, "invalid_field", "message_id: letters, digits, - and _", "message_id"
            )
        attachment = _attachment(form)
        await web_channel.receive_file(
            message_id, form.fields.get("text", "").strip(), attachment, form.data
        )
        return json_response(
            {
                "conversation": str(web_channel.conversation),
                "message_id": message_id,
                "kind": attachment.kind.value,
                "bytes": len(form.data),
            },
            202,
        )

    async def media(self, request: web.Request) -> web.Response:
        found = self._deps.web.shelf.get(request.match_info["media_id"])
        if found is None:
            raise ApiError(404, "not_found", "no such media (it may have been pushed out)")
        mime, data = found
        return web.Response(
            body=data,
            content_type=mime,
            headers={
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, max-age=3600",
                "Content-Disposition": "inline"
                if mime != "application/octet-stream"
                else "attachment",
            },
        )


class _Form:
    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.data = b""
        self.file_name = ""
        self.mime_type = ""
        self.has_file = False


async def _read_form(request: web.Request, max_bytes: int) -> _Form:
    try:
        return await _parse_form(request, max_bytes)
    except (ValueError, HttpProcessingError) as exc:
        # aiohttp's words for a form it cannot read (no boundary, a broken part header).
        raise ApiError(400, "invalid_body", "not a readable multipart form", "body") from exc


async def _parse_form(request: web.Request, max_bytes: int) -> _Form:
    form = _Form()
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError(422, "invalid_field", "nested multipart is not read", "body")
        if part.name == "file":
            if form.has_file:
                raise ApiError(422, "invalid_field", "file: one file per message", "file")
            form.has_file = True
            form.file_name = part.filename or ""
            form.mime_type = (part.headers.get("Content-Type") or "").split(";")[0].strip()
            form.data = await _read_capped(part, max_bytes)
        elif part.name in ("text", "message_id", "voice", "duration_seconds"):
            value = await _read_capped(part, _MAX_FIELD_CHARS * 4)
            try:
                form.fields[part.name] = value.decode("utf-8")[:_MAX_FIELD_CHARS]
            except UnicodeDecodeError as exc:
                raise ApiError(422, "invalid_field", f"{part.name}: not UTF-8", part.name) from exc
        else:
            await part.release()
    if not form.has_file or not form.data:
        raise ApiError(422, "invalid_field", "file: required, and not empty", "file")
    return form


async def _read_capped(part: BodyPartReader, max_bytes: int) -> bytes:
    received = bytearray()
    while chunk := await part.read_chunk(_CHUNK_BYTES):
        received += chunk
        if len(received) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(received)


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"that file is larger than the {max_bytes / 1_000_000:.1f} MB taken here",
        "file",
    )


def _attachment(form: _Form) -> MediaAttachment:
    """What the form is, as a turn reads it: a recording, an audio file, a photo (its
    type read from its bytes) or a document; `file_id` is filled by the channel."""
    mime, name = form.mime_type, form.file_name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    seconds = _seconds(form.fields.get("duration_seconds"))
    if form.fields.get("voice") == "1":
        base = mime or "audio/webm"
        return MediaAttachment(
            MediaKind.VOICE,
            "",
            base,
            _RECORDING_NAMES.get(base, "voice.webm"),
            len(form.data),
            seconds,
        )
    if mime.startswith("audio/"):
        return MediaAttachment(MediaKind.AUDIO, "", mime, name or "audio", len(form.data), seconds)
    if mime.startswith("image/"):
        sniffed = next((kind for magic, kind in _IMAGE_MAGIC if form.data.startswith(magic)), "")
        if not sniffed and form.data[:4] == b"RIFF" and form.data[8:12] == b"WEBP":
            sniffed = "image/webp"
        if not sniffed:
            raise ApiError(422, "invalid_field", "file: not a PNG, JPEG, GIF or WebP image", "file")
        return MediaAttachment(MediaKind.PHOTO, "", sniffed, name or "photo", len(form.data))
    return MediaAttachment(MediaKind.DOCUMENT, "", mime, name or "document", len(form.data))


def _seconds(value: str | None) -> int | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError as exc:
        raise ApiError(
            422, "invalid_field", "duration_seconds: a number", "duration_seconds"
        ) from exc
    if not math.isfinite(seconds) or seconds < 0:
        raise ApiError(422, "invalid_field", "duration_seconds: a number", "duration_seconds")
    return max(1, math.ceil(seconds))
