"""The correlation id and component of the work in progress, carried by contextvars."""

from __future__ import annotations

import contextvars
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
component: contextvars.ContextVar[str | None] = contextvars.ContextVar("component", default=None)


def new_correlation_id() -> str:
    return secrets.token_hex(8)


@contextmanager
def correlated(value: str | None) -> Iterator[str]:
    """Run a block under `value` (a fresh id when None) as the correlation id."""
    cid = value or new_correlation_id()
    token = correlation_id.set(cid)
    try:
        yield cid
    finally:
        correlation_id.reset(token)


@contextmanager
def in_component(name: str) -> Iterator[None]:
    token = component.set(name)
    try:
        yield
    finally:
        component.reset(token)
