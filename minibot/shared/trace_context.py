"""The W3C `traceparent` of the span in progress, carried by a contextvar like the
correlation id: across the bus's task hops and lanes, and in envelopes between processes."""

from __future__ import annotations

import contextvars
from types import TracebackType

# "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>", or None outside any trace.
traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "traceparent", default=None
)


class traced:
    """Run a block with `value` as the current traceparent (None: outside any trace). A
    class, not a generator: it runs on every bus delivery, traced or not."""

    __slots__ = ("_token", "_value")

    def __init__(self, value: str | None) -> None:
        self._value = value
        self._token: contextvars.Token[str | None] | None = None

    def __enter__(self) -> None:
        self._token = traceparent.set(self._value)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._token is not None
        traceparent.reset(self._token)


def trace_ids(value: str | None) -> tuple[str, str] | None:
    """The trace id and span id written in a traceparent, or None when it is not one."""
    if value is None or len(value) != 55 or value[2] != "-" or value[35] != "-":
        return None
    return value[3:35], value[36:52]
