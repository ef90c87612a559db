"""The OpenAPI 3.1 document of `/api/v1/` (served at `/api/v1/openapi.json`)."""

from __future__ import annotations

from typing import Any

from minibot.adapters.http.control_plane.api_models import MODELS

_ERROR = {"$ref": "#/components/schemas/Error"}
_OBJECT: dict[str, Any] = {"type": "object"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _responses(ok: int, description: str, *errors: int) -> dict[str, Any]:
    responses: dict[str, Any] = {str(ok): {"description": description, **_json(_OBJECT)}}
    for status in (401, *errors):
        responses[str(status)] = {"description": _REASONS[status], **_json(_ERROR)}
    return responses


_REASONS = {
    400: "not valid JSON",
    401: "no valid token or session",
    404: "no such thing",
    409: "refused in this state (a finished task, the scheduler off...)",
    413: "body too large",
    415: "body is not application/json",
    422: "a field is invalid; `field` names it",
    503: "the store cannot save it now (nothing was stored; send it again later)",
}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


def _path(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": schema or {"type": "string", "minLength": 1, "maxLength": 255}}  # fmt: skip


def _body(model: str) -> dict[str, Any]:
    return {"required": True, **_json({"$ref": f"#/components/schemas/{model}"})}


_LIMIT = _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})
_OFFSET = _query("offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000})
_OWNER = _query("owner", {"type": "string", "maxLength": 255}, "<channel>:<user id>")
_CONTENT = _query("content", {"type": "string", "enum": ["0", "1"]}, "1: include texts")
_STATE = _query(
    "state",
    {"type": "string", "enum": ["scheduled", "running", "completed", "failed", "cancelled"]},
)
_BODY_ERRORS = (400, 413, 415, 422)
_CHAT_FILE = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "text": {"type": "string", "maxLength": 4000, "description": "a caption"},
            "message_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "voice": {"type": "string", "enum": ["0", "1"],
                      "description": "1: a recording made on the page"},
            "duration_seconds": {"type": "number", "minimum": 0},
        },
    }}},
}  # fmt: skip
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    "description": "the client's message id (as the body's message_id): a POST retried "
                   "with the same one is answered once",
}  # fmt: skip


def _paths() -> dict[str, Any]:
    task = [_path("id")]
    key = [_path("key")]
    return {
        "/api/v1/tasks": {
            "get": {"summary": "list tasks (active, or one owner's)",
                    "parameters": [_OWNER, _STATE, _LIMIT, _OFFSET],
                    "responses": _responses(200, "tasks", 409, 422)},
            "post": {"summary": "create a reminder or scheduled prompt",
                     "requestBody": _body("TaskCreate"),
                     "responses": _responses(201, "the task", 409, *_BODY_ERRORS)},
        },
        "/api/v1/tasks/{id}": {
            "get": {"summary": "one task", "parameters": task,
                    "responses": _responses(200, "the task", 404, 409)},
            "patch": {"summary": "change its time, text or notify", "parameters": task,
                      "requestBody": _body("TaskPatch"),
                      "responses": _responses(200, "the task", 404, 409, *_BODY_ERRORS)},
            "delete": {"summary": "cancel it", "parameters": task,
                       "responses": _responses(200, "the cancelled task", 404, 409)},
        },
        "/api/v1/tasks/{id}/run": {
            "post": {"summary": "run it now", "parameters": task,
                     "responses": _responses(202, "the task, due now", 404, 409)},
        },
        "/api/v1/tasks/{id}/runs": {
            "get": {"summary": "its run ledger", "parameters": task,
                    "responses": _responses(200, "runs with outcomes and reasons", 404, 409)},
        },
        "/api/v1/conversations": {
            "get": {"summary": "conversations by last activity", "parameters": [_LIMIT],
                    "responses": _responses(200, "conversations", 422)},
        },
        "/api/v1/conversations/{key}": {
            "delete": {"summary": "reset its context", "parameters": key,
                       "responses": _responses(200, "how many messages were forgotten", 422)},
        },
        "/api/v1/conversations/{key}/messages": {
            "get": {"summary": "its history since the last reset", "parameters": [*key, _LIMIT],
                    "responses": _responses(200, "messages", 422)},
            "post": {"summary": "say something as its owner; answered through its channel",
                     "parameters": [*key, _IDEMPOTENCY_KEY],
                     "requestBody": _body("MessagePost"),
                     "responses": _responses(202, "stored in the inbox", 404, 409,
                                             *_BODY_ERRORS, 503)},
        },
        "/api/v1/chat/messages": {
            "get": {"summary": "the web chat's recent replies",
                    "responses": _responses(200, "replies")},
            "post": {"summary": "say something on the web chat", "requestBody": _body("ChatPost"),
                     "parameters": [_IDEMPOTENCY_KEY],
                     "responses": _responses(202, "stored in the inbox", 409, *_BODY_ERRORS,
                                             503)},
        },
        "/api/v1/chat/press": {
            "post": {"summary": "press a button shown on the web chat; answered once",
                     "requestBody": _body("ChatPress"),
                     "responses": _responses(202, "accepted", 404, 409, *_BODY_ERRORS, 503)},
        },
        "/api/v1/chat/files": {
            "post": {"summary": "send a file on the web chat (a recording, a photo, a document); "
                                "over [media] max_file_bytes: 413 before the body is read",
                     "requestBody": _CHAT_FILE,
                     "responses": _responses(202, "accepted", 400, 409, 413, 415, 422)},
        },
        "/api/v1/chat/media/{media_id}": {
            "get": {"summary": "a voice note or picture minibot sent on the web chat",
                    "parameters": [_path("media_id")],
                    "responses": {"200": {"description": "its bytes"},
                                  "401": {"description": _REASONS[401], **_json(_ERROR)},
                                  "404": {"description": _REASONS[404], **_json(_ERROR)}}},
        },
        "/api/v1/notes": {
            "get": {"summary": "one owner's notes", "parameters": [_OWNER, _LIMIT, _OFFSET],
                    "responses": _responses(200, "notes", 409, 422)},
        },
        "/api/v1/notes/{id}": {
            "delete": {"summary": "forget a note",
                       "parameters": [_path("id", {"type": "integer", "minimum": 1})],
                       "responses": _responses(200, "deleted", 404, 409)},
        },
        "/api/v1/usage": {
            "get": {"summary": "tokens and cost per owner, model and day",
                    "parameters": [_OWNER,
                                   _query("days", {"type": "integer", "minimum": 1,
                                                   "maximum": 3650})],
                    "responses": _responses(200, "usage rows", 422)},
        },
        "/api/v1/channels": {
            "get": {"summary": "each channel's state, counters and last error",
                    "responses": _responses(200, "channels")},
        },
        "/api/v1/events": {
            "get": {"summary": "Server-Sent Events of what happens", "parameters": [_CONTENT],
                    "x-streaming": True,
                    "responses": {"200": {"description": "an event stream",
                                          "content": {"text/event-stream": {"schema": {
                                              "type": "string"}}}},
                                  "401": {"description": _REASONS[401], **_json(_ERROR)}}},
        },
        "/api/v1/ws": {
            "get": {"summary": "the same events over a WebSocket", "parameters": [_CONTENT],
                    "x-streaming": True,
                    "responses": {"101": {"description": "switching to WebSocket"},
                                  "401": {"description": _REASONS[401], **_json(_ERROR)}}},
        },
    }  # fmt: skip


def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {
                "error": {"type": "string", "description": "a stable code"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "the field at fault"},
            },
        }
    }
    for model in MODELS:
        schemas[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "minibot control plane",
            "version": "1",
            "description": "Tasks, conversations, notes, usage, channels and a live "
            "event stream of one minibot daemon. Owners read `<channel>:<user id>`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": _paths(),
    }
