"""Port: the tracer that records spans (one trace per message, one span per hop)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Protocol

AttributeValue = str | int | float | bool


class Span(Protocol):
    """A span in progress: attributes may be added until it ends, and events (a small
    step inside it, at the moment it is noted: cheaper than a child span)."""

    def set(self, key: str, value: AttributeValue) -> None: ...

    def event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None: ...


class Tracer(Protocol):
    """Opens spans. `span` is a context manager: the span starts on entry (or at
    `start_ns`, nanoseconds since the epoch, for work that began before it was known to
    be traced) and ends on exit; an exception leaving it marks the span failed and goes
    on. Its parent is the span current in this task, or the one named by the carried
    `traceparent` (shared/trace_context) when the work arrived over the bus; inside it,
    the traceparent is the new span's. Under a parent that is not sampled nothing is
    recorded and the parent's traceparent stays current. `include_content`: whether
    message text may go into attributes (it must not unless the operator asked for it)."""

    @property
    def include_content(self) -> bool: ...

    def span(
        self,
        name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        *,
        start_ns: int | None = None,
    ) -> AbstractContextManager[Span]: ...
