"""The W3C `traceparent` of the span in progress, carried by a contextvar like the
correlation id: across the bus's task hops and lanes, and in envelopes between processes."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

# "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>", or None outside any trace.
traceparent: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "traceparent", default=None
)


@contextmanager
def traced(value: str | None) -> Iterator[None]:
    """Run a block with `value` as the current traceparent (None: outside any trace)."""
    token = traceparent.set(value)
    try:
        yield
    finally:
        traceparent.reset(token)


def trace_ids(value: str | None) -> tuple[str, str] | None:
    """The trace id and span id written in a traceparent, or None when it is not one."""
    if value is None or len(value) != 55 or value[2] != "-" or value[35] != "-":
        return None
    return value[3:35], value[36:52]
