"""The bus's routing table, shared by bus adapters that deliver in their own way: which
handlers a message type reaches, with one handler per command enforced at subscribe."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from minibot.core.commands import Command
from minibot.core.events import Event

Handler = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    message_type: type[Any]
    handler: Handler


class BusRoutes:
    """Subscriptions by type: an event reaches every subscriber of its type or a base
    type, in subscription order; a command type takes one subscriber, a second is
    refused (`ValueError` naming the first)."""

    def __init__(self) -> None:
        self._subscriptions: list[Route] = []
        self._cache: dict[type[Any], list[Route]] = {}

    def add(self, message_type: type[Any], handler: Handler, name: str) -> None:
        if issubclass(message_type, Command):
            taken = [
                r.name
                for r in self._subscriptions
                if issubclass(r.message_type, message_type)
                or issubclass(message_type, r.message_type)
            ]
            if taken:
                raise ValueError(
                    f"{message_type.__name__} is a command and already handled by {taken[0]}"
                )
        self._subscriptions.append(Route(name, message_type, handler))
        self._cache.clear()

    @property
    def subscribed(self) -> bool:
        return bool(self._subscriptions)

    def of(self, message_type: type[Event | Command]) -> list[Route]:
        routes = self._cache.get(message_type)
        if routes is None:
            routes = [r for r in self._subscriptions if issubclass(message_type, r.message_type)]
            self._cache[message_type] = routes
        return routes
