"""The usage ledger, counted: each record also adds to the token and cost series."""

from __future__ import annotations

from datetime import datetime

from minibot.adapters.observability.metrics import Metrics
from minibot.core.ports.usage_ledger import UsageLedger
from minibot.core.usage import UsageRecord, UsageTotals


class MeteredUsageLedger:
    """A `UsageLedger` that writes through to `inner`, then counts the record."""

    def __init__(self, inner: UsageLedger, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def record(self, record: UsageRecord) -> None:
        await self._inner.record(record)
        self._metrics.usage_recorded(record)

    async def totals(self, owner_id: str, since: datetime | None = None) -> UsageTotals:
        return await self._inner.totals(owner_id, since)
