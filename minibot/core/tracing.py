"""The tracer used when tracing is off: spans that record nothing and cost next to nothing."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

from minibot.core.ports.tracer import AttributeValue


class _NoSpan:
    __slots__ = ()

    def set(self, key: str, value: AttributeValue) -> None:
        return None

    def event(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> None:
        return None

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


# One span that records nothing, shared: also what the real tracer gives a span under
# a parent that is not sampled.
NO_SPAN = _NoSpan()


class NoTracer:
    """A `Tracer` that records nothing: one shared span object, no allocation per call."""

    include_content = False

    def span(
        self,
        name: str,
        attributes: Mapping[str, AttributeValue] | None = None,
        *,
        start_ns: int | None = None,
    ) -> _NoSpan:
        return NO_SPAN


NO_TRACER = NoTracer()
