"""Port: the ledger of LLM usage."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from minibot.core.usage import UsageRecord, UsageTotals


class UsageLedger(Protocol):
    """Records every LLM request. `totals` sums an owner's records at or after `since`
    (all of them when `since` is None); an owner with none gets zero totals."""

    async def record(self, record: UsageRecord) -> None: ...

    async def totals(self, owner_id: str, since: datetime | None = None) -> UsageTotals: ...
