"""The envelope every bus message travels in, and its JSON form for crossing processes."""

from __future__ import annotations

import base64
import dataclasses
import enum
import itertools
import json
import secrets
import types
import typing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Bump when the JSON form changes in a way an older process could not read.
ENVELOPE_VERSION = 1

# Message ids: a random prefix per process and a counter, unique across processes without
# a system call per message (the in-process bus wraps several messages per reply).
_PROCESS_PREFIX = secrets.token_hex(6)
_next_number = itertools.count(1).__next__


def new_message_id() -> str:
    return f"{_PROCESS_PREFIX}-{_next_number():x}"


@dataclass(frozen=True, slots=True)
class Envelope:
    """A payload (an event or a command) with what must travel beside it: its own id,
    the correlation id of the work it belongs to, a W3C `traceparent`, when it was made,
    and the conversation key that orders it (None when order does not matter)."""

    payload: Any
    message_id: str
    created_at: datetime
    correlation_id: str | None = None
    traceparent: str | None = None
    ordering_key: str | None = None

    @property
    def type(self) -> str:
        return type(self.payload).__name__

    @classmethod
    def wrap(
        cls,
        payload: Any,
        *,
        correlation_id: str | None = None,
        traceparent: str | None = None,
        now: datetime | None = None,
    ) -> Envelope:
        return cls(
            payload=payload,
            message_id=new_message_id(),
            created_at=now or datetime.now(UTC),
            correlation_id=correlation_id,
            traceparent=traceparent,
            ordering_key=ordering_key_of(payload),
        )


def ordering_key_of(payload: Any) -> str | None:
    """The conversation a payload belongs to, found where the vocabulary keeps it: a
    `conversation` field, or the one of its `message` or `reply`."""
    for holder in (payload, getattr(payload, "message", None), getattr(payload, "reply", None)):
        conversation = getattr(holder, "conversation", None)
        if conversation is not None:
            return str(conversation)
    return None


class EnvelopeCodec:
    """Turns envelopes into JSON text and back, for the payload types it was given.

    Payloads are frozen dataclasses whose fields are built from str, int, float, bool,
    bytes (as base64), None, datetimes, enums, tuples, dicts of str, and other such
    dataclasses; the codec reads the field types, so a new event needs no code here.
    Unknown types are refused on both sides rather than guessed."""

    def __init__(self, payload_types: typing.Iterable[type]) -> None:
        self._types = {t.__name__: t for t in payload_types}
        self._hints: dict[type, dict[str, Any]] = {}

    def dumps(self, envelope: Envelope) -> str:
        if envelope.type not in self._types:
            raise TypeError(f"not a known payload type: {envelope.type}")
        body = {
            "v": ENVELOPE_VERSION,
            "type": envelope.type,
            "message_id": envelope.message_id,
            "created_at": envelope.created_at.isoformat(),
            "correlation_id": envelope.correlation_id,
            "traceparent": envelope.traceparent,
            "ordering_key": envelope.ordering_key,
            "payload": self._encode(envelope.payload),
        }
        # ensure_ascii keeps any text (a lone surrogate included) as a valid JSON escape.
        return json.dumps(body, ensure_ascii=True, separators=(",", ":"))

    def loads(self, text: str | bytes) -> Envelope:
        body = json.loads(text)
        if body.get("v") != ENVELOPE_VERSION:
            raise ValueError(f"unsupported envelope version: {body.get('v')!r}")
        payload_type = self._types.get(body["type"])
        if payload_type is None:
            raise ValueError(f"not a known payload type: {body['type']!r}")
        return Envelope(
            payload=self._decode(payload_type, body["payload"]),
            message_id=body["message_id"],
            created_at=datetime.fromisoformat(body["created_at"]),
            correlation_id=body["correlation_id"],
            traceparent=body["traceparent"],
            ordering_key=body["ordering_key"],
        )

    def _encode(self, value: Any) -> Any:
        if value is None or isinstance(value, str | bool | int | float):
            return value
        if isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, tuple | list):
            return [self._encode(item) for item in value]
        if isinstance(value, dict):
            return {str(k): self._encode(v) for k, v in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: self._encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        raise TypeError(f"cannot put {type(value).__name__} in an envelope")

    def _fields(self, cls: type) -> dict[str, Any]:
        hints = self._hints.get(cls)
        if hints is None:
            hints = typing.get_type_hints(cls)
            self._hints[cls] = hints
        return hints

    def _decode(self, hint: Any, value: Any) -> Any:
        if hint is Any:
            return value
        origin = typing.get_origin(hint)
        if origin is typing.Union or origin is types.UnionType:
            return self._decode_union(hint, value)
        if origin is tuple:
            args = typing.get_args(hint)
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(self._decode(args[0], v) for v in value)
            return tuple(self._decode(a, v) for a, v in zip(args, value, strict=True))
        if origin is list:
            (item,) = typing.get_args(hint)
            return [self._decode(item, v) for v in value]
        if origin is dict:
            key, item = typing.get_args(hint)
            return {self._decode(key, k): self._decode(item, v) for k, v in value.items()}
        return self._decode_plain(hint, value)

    def _decode_union(self, hint: Any, value: Any) -> Any:
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return self._decode(option, value)
            except (TypeError, ValueError) as exc:
                errors.append(exc)
        raise ValueError(f"{value!r} fits none of {hint}: {errors}")

    def _decode_plain(self, hint: Any, value: Any) -> Any:
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return hint(value)
        if hint is datetime:
            if not isinstance(value, str):
                raise TypeError(f"a datetime must be a string, not {value!r}")
            return datetime.fromisoformat(value)
        if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if hint in (str, int, bool) and type(value) is hint:
            return value
        if hint is bytes and isinstance(value, str):
            return base64.b64decode(value, validate=True)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise TypeError(f"{hint.__name__} must be an object, not {value!r}")
            hints = self._fields(hint)
            return hint(**{name: self._decode(hints[name], v) for name, v in value.items()})
        raise TypeError(f"{value!r} is not a {hint}")
