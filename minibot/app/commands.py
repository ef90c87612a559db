"""Slash commands and inline-button actions: a registry and the parsing of `/name args`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from minibot.core.messages import Button, IncomingMessage


@dataclass(frozen=True, slots=True)
class CommandReply:
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """`turn_id` is the same when a message is handled again after a crash: what a
    command creates is keyed by it, so it is created once."""

    message: IncomingMessage
    owner_id: str
    args: str
    turn_id: str | None = None


CommandHandler = Callable[[CommandRequest], Awaitable[CommandReply]]


@dataclass(frozen=True, slots=True)
class ButtonRequest:
    message: IncomingMessage
    owner_id: str
    action: str
    # The turn id the press's reply goes out under (stable for an inbox item).
    turn_id: str = ""


ButtonHandler = Callable[[ButtonRequest], Awaitable[CommandReply]]


@dataclass(frozen=True, slots=True)
class _Command:
    description: str
    handler: CommandHandler


class CommandRouter:
    """Maps `/name` to a handler, and a button action's prefix (`job:...`) to another."""

    def __init__(self) -> None:
        self._commands: dict[str, _Command] = {}
        self._buttons: dict[str, ButtonHandler] = {}

    def register(self, name: str, description: str, handler: CommandHandler) -> None:
        self._commands[name] = _Command(description, handler)

    def register_buttons(self, prefix: str, handler: ButtonHandler) -> None:
        self._buttons[prefix] = handler

    @property
    def commands(self) -> list[tuple[str, str]]:
        return [(name, command.description) for name, command in self._commands.items()]

    @staticmethod
    def parse(text: str) -> tuple[str, str] | None:
        """`/name@bot args` → ("name", "args"); None when `text` is not a command."""
        if not text.startswith("/") or len(text) < 2:
            return None
        head, _, args = text[1:].partition(" ")
        name = head.split("@", 1)[0].lower()
        return (name, args.strip()) if name else None

    def command(self, name: str) -> CommandHandler | None:
        found = self._commands.get(name)
        return found.handler if found else None

    def button(self, action: str) -> ButtonHandler | None:
        return self._buttons.get(action.split(":", 1)[0])
