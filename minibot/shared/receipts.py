"""Receipts: knowing when everything a received message set off has been done, across
the task hops it takes (so a broker's message is acknowledged only then)."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar


class Receipt:
    """Counts the work still owed for one received message: one for its handler, one
    more for each work item handed on (`hold`) until that item ends (`release`).
    `settled` returns once nothing is owed."""

    def __init__(self) -> None:
        self._owed = 1
        self._settled = asyncio.Event()

    def hold(self) -> None:
        self._owed += 1

    def release(self) -> None:
        self._owed -= 1
        if self._owed <= 0:
            self._settled.set()

    async def settled(self) -> None:
        await self._settled.wait()


# The receipt of the message being handled, if its bus wants one (the RabbitMQ bus);
# work queued under it (`KeyedLanes.submit`) holds it until that work has run.
current_receipt: ContextVar[Receipt | None] = ContextVar("current_receipt", default=None)
