"""StorageRetention: the loop that keeps the database from growing without bound."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.delivery_ledger import SqlDeliveryLedger
from minibot.adapters.sql.inbox import SqlInbox
from minibot.adapters.sql.usage_ledger import SqlUsageLedger
from minibot.core.errors import StoreError
from minibot.core.health import Health, HealthBoard

log = logging.getLogger(__name__)

# Each batch is one short write transaction: other writes go between two batches.
DEFAULT_BATCH_ROWS = 500

_Batch = Callable[[datetime, int], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Pruned:
    """What one pass removed: inbox items, delivery records, usage rows rolled up."""

    inbox: int = 0
    deliveries: int = 0
    usage: int = 0
    log_shrunk: bool = False


class StorageRetention:
    """Every `interval_seconds`: deletes inbox items handled (marked done) and delivery
    records older than `retention_days`, folds older usage rows into daily sums (so
    `/usage` totals do not change), then checkpoints and truncates the SQLite log.

    Work goes in batches of `batch_rows`, each its own short transaction, so the single
    writer is never held for long. An inbox item not done is never deleted. A pass that
    fails (the disk is full, say) leaves the service degraded and is tried again at the
    next interval; `retention_days = 0` keeps every row (the log is still truncated).
    """

    name = "retention"

    def __init__(
        self,
        database: SqlDatabase,
        inbox: SqlInbox,
        deliveries: SqlDeliveryLedger,
        usage: SqlUsageLedger,
        *,
        retention_days: float,
        interval_seconds: float,
        now: Callable[[], datetime],
        batch_rows: int = DEFAULT_BATCH_ROWS,
    ) -> None:
        self._db = database
        self._inbox = inbox
        self._deliveries = deliveries
        self._usage = usage
        self._retention = timedelta(days=retention_days)
        self._interval_seconds = interval_seconds
        self._now = now
        self._batch_rows = batch_rows
        self._board = HealthBoard()

    @property
    def health(self) -> Health:
        return self._board.health

    async def start(self) -> None:
        await self._db.start()
        self._board.started()

    async def stop(self) -> None:
        self._board.stopped()

    async def run(self) -> None:
        while True:
            try:
                pruned = await self.prune()
            except StoreError as exc:
                log.warning("storage retention pass failed", extra={"error": str(exc)})
                self._board.degrade("prune", f"old rows could not be pruned: {exc}")
            else:
                self._board.recover("prune")
                if pruned.inbox or pruned.deliveries or pruned.usage:
                    log.info(
                        "storage pruned",
                        extra={
                            "inbox": pruned.inbox,
                            "deliveries": pruned.deliveries,
                            "usage": pruned.usage,
                            "log_shrunk": pruned.log_shrunk,
                        },
                    )
            await asyncio.sleep(self._interval_seconds)

    async def prune(self) -> Pruned:
        """One pass; returns what it removed."""
        inbox = deliveries = usage = 0
        if self._retention:
            before = self._now() - self._retention
            inbox = await self._drain(self._inbox.prune_done, before)
            deliveries = await self._drain(self._deliveries.prune, before)
            usage = await self._drain(self._usage.roll_up, before)
        shrunk = await self._db.shrink_log()
        return Pruned(inbox, deliveries, usage, shrunk)

    async def _drain(self, batch: _Batch, before: datetime) -> int:
        total = 0
        while True:
            done = await batch(before, self._batch_rows)
            total += done
            if done < self._batch_rows:
                return total
