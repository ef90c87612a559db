"""Port: the durable inbox that holds updates from a channel until they are handled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: int
    channel: str
    external_id: str
    conversation: str
    payload: str


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """An update to store: its id on the channel, its conversation and its raw payload."""

    external_id: str
    conversation: str
    payload: str


class Inbox(Protocol):
    """`add` stores an update keyed by (channel, external_id) and returns its id, or None
    when that update was stored before (a duplicate). It returns only once the update is
    durable. `add_many` stores several in one transaction (all or none) and returns their
    ids in order, None for each duplicate (a repeat within the call included).
    `pending` lists updates not yet marked done, oldest first. `mark_done` is
    idempotent. An add survives a crash of the process once it returns; `sync` returns
    once every add so far also survives a power loss (call it before confirming updates
    to the platform).

    A failed add raises `StoreUnavailable` when the store cannot write at all (retry
    later; confirm nothing) and `EntryRejected` when the store refused what it was given
    (one bad entry fails the whole `add_many`: add the entries one by one to find it).
    `set_aside` keeps an update that cannot be stored or read (its raw bytes as received
    and why) as a dead letter, so it can be confirmed without being lost; it returns False
    when the same bytes were set aside before, and raises `StoreUnavailable` like an add."""

    async def add(
        self, channel: str, external_id: str, conversation: str, payload: str
    ) -> int | None: ...

    async def add_many(self, channel: str, entries: Sequence[InboxEntry]) -> list[int | None]: ...

    async def set_aside(self, channel: str, raw: bytes, error: str) -> bool: ...

    async def pending(self, channel: str) -> list[InboxItem]: ...

    async def mark_done(self, item_id: int) -> None: ...

    async def sync(self) -> None: ...
