"""Port: which chunks of which reply were already sent, so none is sent twice."""

from __future__ import annotations

from typing import Protocol


class DeliveryLedger(Protocol):
    """`sent` maps chunk number to the platform message id for every chunk of `turn_id`
    recorded so far (empty when none). `record` is durable when it returns and
    idempotent for the same (turn_id, chunk).

    `record_failure` notes that a reply was given up for good and why (the first reason
    recorded for a turn is kept); `failure` returns that reason, or None when the turn
    was never given up."""

    async def sent(self, turn_id: str) -> dict[int, str]: ...

    async def record(self, turn_id: str, chunk: int, message_id: str) -> None: ...

    async def record_failure(self, turn_id: str, reason: str) -> None: ...

    async def failure(self, turn_id: str) -> str | None: ...
