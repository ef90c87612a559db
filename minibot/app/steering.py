"""Messages that join a running turn (busy policy "steer") before its next model call."""

from __future__ import annotations

from minibot.core.messages import IncomingMessage


class Steering:
    """The mailbox of one running turn. The turn `take`s what arrived before each model
    call and `close`s it when it stops asking the model; a message `add`ed after that is
    refused (False), so the dispatcher queues it instead: none falls between."""

    def __init__(self) -> None:
        self._pending: list[IncomingMessage] = []
        self._closed = False

    def add(self, message: IncomingMessage) -> bool:
        if self._closed:
            return False
        self._pending.append(message)
        return True

    def take(self) -> list[IncomingMessage]:
        taken, self._pending = self._pending, []
        return taken

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed
