"""Port: the bus that carries events (facts) and commands (orders) between services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from minibot.core.commands import Command
from minibot.core.events import Event

Message = Event | Command
M = TypeVar("M", bound=Event | Command)

# What a service is given when all it does with the bus is put things on it.
Publish = Callable[[Event | Command], Awaitable[None]]


class Bus(Protocol):
    """Publish/subscribe with one routing table.

    An event goes to every subscriber of its type (or of a base type), in publish order
    per subscriber; a subscriber that fails is logged and the others go on. A command goes
    to its one handler: subscribing a second handler to a command type is an error, and
    publishing a command nobody handles raises `NoHandler`. Each message travels in an
    `Envelope` (core/envelope.py), so the correlation id current at `publish` is current
    again in the handler, also when a broker carried it to another process.
    `publish` may wait (backpressure) but never drops a message it accepted."""

    def subscribe(
        self,
        message_type: type[M],
        handler: Callable[[M], Awaitable[None]],
        *,
        name: str,
        inline: bool = False,
    ) -> None: ...

    async def publish(self, message: Event | Command) -> None: ...
