"""Every event and command type of the bus's vocabulary, for a codec that carries them."""

from __future__ import annotations

from minibot.core import commands, events


def payload_types() -> list[type]:
    """The event and command classes defined in core/events.py and core/commands.py."""
    return [
        value
        for module, base in ((events, events.Event), (commands, commands.Command))
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, base) and value is not base
    ]
