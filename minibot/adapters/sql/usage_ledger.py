"""SqlUsageLedger: one row per LLM request, summed per owner; old rows kept as daily sums."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.sqlite_fast import driver, to_db
from minibot.adapters.sql.tables import usage, usage_days
from minibot.core.usage import UsageRecord, UsageTotals

_SQLITE_RECORD = (
    "INSERT INTO minibot_usage (owner_id, conversation, model, prompt_tokens, "
    "completion_tokens, cost_usd, estimated, kind, quantity, at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class SqlUsageLedger:
    """UsageLedger on SQL; `totals` is one indexed aggregate over (owner_id, at), plus
    the daily sums that `roll_up` made of rows past the retention. A rolled-up day counts
    for `since` when it starts at or after it: exact for the UTC days `/usage` asks for."""

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
            "kind": record.kind.value,
            "quantity": record.quantity,
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
        days = select(
            func.coalesce(func.sum(usage_days.c.requests), 0),
            func.coalesce(func.sum(usage_days.c.prompt_tokens), 0),
            func.coalesce(func.sum(usage_days.c.completion_tokens), 0),
            func.coalesce(func.sum(usage_days.c.cost_usd), 0.0),
        ).where(usage_days.c.owner_id == owner_id)
        if since is not None:
            query = query.where(usage.c.at >= since)
            days = days.where(usage_days.c.day >= since)

        def operation(conn: Connection) -> UsageTotals:
            recent = conn.execute(query).one()
            rolled = conn.execute(days).one()
            requests, prompt, completion, cost = (
                a + b for a, b in zip(rolled, recent, strict=True)
            )
            return UsageTotals(int(requests), int(prompt), int(completion), float(cost))

        return await self._db.read(operation)

    # -- retention -------------------------------------------------------------------

    async def roll_up(self, before: datetime, limit: int) -> int:
        """Folds up to `limit` rows recorded before `before` into the daily sums (per
        owner, UTC day and model) and deletes them, in one transaction; returns how many.
        Totals stay the same: each row is counted either as itself or in its day."""
        found = select(usage.c.id).where(usage.c.at < before).order_by(usage.c.id).limit(limit)

        def candidates(conn: Connection) -> list[int]:
            return list(conn.execute(found).scalars())

        ids = await self._db.read(candidates)
        if not ids:
            return 0
        rows = select(
            usage.c.owner_id,
            usage.c.model,
            usage.c.at,
            usage.c.prompt_tokens,
            usage.c.completion_tokens,
            usage.c.cost_usd,
        ).where(usage.c.id.in_(ids))

        def operation(conn: Connection) -> int:
            # Read again inside the transaction that deletes them: a row is summed once.
            sums: dict[tuple[str, datetime, str], list[Any]] = {}
            for owner_id, model, at, prompt, completion, cost in conn.execute(rows):
                day = at.replace(hour=0, minute=0, second=0, microsecond=0)
                total = sums.setdefault((owner_id, day, model), [0, 0, 0, 0.0])
                total[0] += 1
                total[1] += prompt
                total[2] += completion
                total[3] += cost
            if not sums:
                return 0
            values = [
                {
                    "owner_id": owner_id,
                    "day": day,
                    "model": model,
                    "requests": requests,
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "cost_usd": cost,
                }
                for (owner_id, day, model), (requests, prompt, completion, cost) in sums.items()
            ]
            upsert = self._db.insert(usage_days).values(values)
            added = upsert.excluded
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[usage_days.c.owner_id, usage_days.c.day, usage_days.c.model],
                    set_={
                        "requests": usage_days.c.requests + added.requests,
                        "prompt_tokens": usage_days.c.prompt_tokens + added.prompt_tokens,
                        "completion_tokens": (
                            usage_days.c.completion_tokens + added.completion_tokens
                        ),
                        "cost_usd": usage_days.c.cost_usd + added.cost_usd,
                    },
                )
            )
            return conn.execute(delete(usage).where(usage.c.id.in_(ids))).rowcount

        return await self._db.write(operation)
