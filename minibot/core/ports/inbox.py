"""Port: the durable inbox that holds updates from a channel until they are handled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: int
    channel: str
    external_id: str
    conversation: str
    payload: str


class Inbox(Protocol):
    """`add` stores an update keyed by (channel, external_id) and returns its id, or None
    when that update was stored before (a duplicate). It returns only once the update is
    durable. `pending` lists updates not yet marked done, oldest first. `mark_done` is
    idempotent."""

    async def add(
        self, channel: str, external_id: str, conversation: str, payload: str
    ) -> int | None: ...

    async def pending(self, channel: str) -> list[InboxItem]: ...

    async def mark_done(self, item_id: int) -> None: ...
