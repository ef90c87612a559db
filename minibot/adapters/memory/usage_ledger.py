"""SqlUsageLedger: one row per LLM request, summed per owner."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from minibot.adapters.memory.database import SqlDatabase
from minibot.adapters.memory.sqlite_fast import driver, to_db
from minibot.adapters.memory.tables import usage
from minibot.core.usage import UsageRecord, UsageTotals

_SQLITE_RECORD = (
    "INSERT INTO minibot_usage (owner_id, conversation, model, prompt_tokens, "
    "completion_tokens, cost_usd, estimated, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class SqlUsageLedger:
    """UsageLedger on SQL; `totals` is one indexed aggregate over (owner_id, at)."""

    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def start(self) -> None:
        await self._db.start()

    async def stop(self) -> None:
        return None

    async def record(self, record: UsageRecord) -> None:
        row = {
            "owner_id": record.owner_id,
            "conversation": str(record.conversation),
            "model": record.model,
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "cost_usd": record.cost_usd,
            "estimated": record.estimated,
            "at": record.at,
        }

        def operation(conn: Connection) -> None:
            if conn.dialect.name == "sqlite":
                values = (*list(row.values())[:-1], to_db(record.at))  # `at` last
                driver(conn).execute(_SQLITE_RECORD, values)
            else:
                conn.execute(insert(usage), [row])

        await self._db.write(operation, later=True)

    async def totals(self, owner_id: str, since: datetime | None = None) -> UsageTotals:
        query = select(
            func.count(),
            func.coalesce(func.sum(usage.c.prompt_tokens), 0),
            func.coalesce(func.sum(usage.c.completion_tokens), 0),
            func.coalesce(func.sum(usage.c.cost_usd), 0.0),
        ).where(usage.c.owner_id == owner_id)
        if since is not None:
            query = query.where(usage.c.at >= since)

        def operation(conn: Connection) -> UsageTotals:
            requests, prompt, completion, cost = (conn.execute(query)).one()
            return UsageTotals(int(requests), int(prompt), int(completion), float(cost))

        return await self._db.read(operation)
