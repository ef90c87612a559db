"""The API's errors: JSON bodies with a stable `error` code and a message naming the field."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from minibot.core.errors import JobRefused, NotFound, StoreUnavailable
from minibot.shared import fast_json

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A request the API refuses: `status` (4xx), a stable `code`, a message for people
    and, when one field is at fault, its name."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message}
    if field is not None:
        body["field"] = field
    return body


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=fast_json.dumps(data).encode("utf-8"), status=status, content_type="application/json"
    )


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    return json_response(error_body(code, message, field), status)


def from_validation(exc: ValidationError) -> ApiError:
    """The first problem pydantic found, named by its field's dotted path."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return ApiError(422, "invalid_field", f"{field}: {first['msg']}", field)


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a JSON error: refusals with their code, anything unforeseen
    a 500 with no detail (logged here with its traceback)."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.field)
    except ValidationError as exc:
        err = from_validation(exc)
        return error_response(err.status, err.code, err.message, err.field)
    except NotFound as exc:
        return error_response(404, "not_found", str(exc))
    except JobRefused as exc:
        return error_response(409, "refused", str(exc))
    except StoreUnavailable:
        # Nothing was stored: the client may send the same request again later.
        log.warning("control plane request: the store is unavailable", extra={"path": request.path})
        return error_response(503, "store_unavailable", "the store cannot save this now; retry")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "bad_request")
        return error_response(exc.status, code, exc.reason)
    except Exception:
        log.exception("control plane request failed", extra={"path": request.path})
        return error_response(500, "internal", "the request failed; see the daemon's log")
