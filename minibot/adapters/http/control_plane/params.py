"""Reading a request's path, query and body into checked values, or an ApiError naming the field."""

from __future__ import annotations

import re
import uuid
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from minibot.adapters.http.control_plane.api_errors import ApiError, from_validation
from minibot.core.conversation import ConversationKey
from minibot.shared import fast_json

B = TypeVar("B", bound=BaseModel)


async def body(request: web.Request, model: type[B]) -> B:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "body: send application/json", "body")
    raw = await request.read()
    try:
        data = fast_json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_json", "body: not valid JSON", "body") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_field", "body: must be a JSON object", "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc) from None


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, "invalid_field", f"{name}: must be an integer", name) from None
    if not low <= value <= high:
        raise ApiError(422, "invalid_field", f"{name}: must be {low} to {high}", name)
    return value


def query_text(request: web.Request, name: str, max_chars: int = 255) -> str | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_chars:
        raise ApiError(422, "invalid_field", f"{name}: at most {max_chars} characters", name)
    return raw


def owner(value: str, name: str = "owner") -> str:
    channel, _, user = value.partition(":")
    if not channel or not user or len(value) > 255:
        raise ApiError(422, "invalid_field", f"{name}: must read <channel>:<user id>", name)
    return value


def conversation_key(value: str, name: str = "key") -> ConversationKey:
    try:
        key = ConversationKey.parse(value)
    except ValueError:
        raise ApiError(
            422, "invalid_field", f"{name}: must read <channel>:<chat id>", name
        ) from None
    if len(value) > 255:
        raise ApiError(422, "invalid_field", f"{name}: at most 255 characters", name)
    return key


def path_int(request: web.Request, name: str) -> int:
    raw = request.match_info[name]
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(404, "not_found", f"{name}: no such id {raw[:40]!r}", name) from None
    if not 0 < value < 2**63:
        raise ApiError(404, "not_found", f"{name}: no such id {raw[:40]!r}", name)
    return value


_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
IDEMPOTENCY_HEADER = "Idempotency-Key"


def client_message_id(request: web.Request, in_body: str | None) -> str:
    """The client's id for a message (the body's `message_id` or the `Idempotency-Key`
    header; they must agree when both are sent), or a new one: the inbox keys it, so a
    POST retried with the same id is answered once."""
    header = request.headers.get(IDEMPOTENCY_HEADER)
    if header is not None and not _CLIENT_ID.fullmatch(header):
        raise ApiError(
            422,
            "invalid_field",
            f"{IDEMPOTENCY_HEADER}: 1 to 64 letters, digits, '-' or '_'",
            IDEMPOTENCY_HEADER,
        )
    if header is not None and in_body is not None and header != in_body:
        raise ApiError(
            422,
            "invalid_field",
            f"message_id: differs from the {IDEMPOTENCY_HEADER} header",
            "message_id",
        )
    return in_body or header or uuid.uuid4().hex[:16]
