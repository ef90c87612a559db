"""Port: which chunks of which reply were already sent, so none is sent twice."""

from __future__ import annotations

from typing import Protocol

from minibot.core.delivery import ChunkClaim


class DeliveryLedger(Protocol):
    """`sent` maps chunk number to the platform message id for every chunk of `turn_id`
    recorded so far (empty when none). `record` is durable when it returns and
    idempotent for the same (turn_id, chunk).

    `claim` is asked right before a chunk is sent, when several processes may deliver
    the same turn (replicas, a redelivered bus message): it takes the chunk for this
    sender atomically, with a lease, unless it is sent already (its message id) or
    another sender holds an unexpired lease on it (wait, then ask again). A lease that
    lapsed unsent (its sender died or hung mid-send) may be taken by another, so a chunk
    is sent twice only when its sender stopped between sending and recording. Where one
    process alone delivers (its per-chat lanes order every send), `claim` may win at once
    without a store round trip.

    `record_failure` notes that a reply was given up for good and why (the first reason
    recorded for a turn is kept); `failure` returns that reason, or None when the turn
    was never given up."""

    async def sent(self, turn_id: str) -> dict[int, str]: ...

    async def claim(self, turn_id: str, chunk: int) -> ChunkClaim: ...

    async def record(self, turn_id: str, chunk: int, message_id: str) -> None: ...

    async def record_failure(self, turn_id: str, reason: str) -> None: ...

    async def failure(self, turn_id: str) -> str | None: ...
