"""SqlDeliveryLedger: which chunks of which reply reached the platform, and as which message."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select, tuple_

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.sqlite_fast import driver, to_db
from minibot.adapters.sql.tables import deliveries, delivery_failures

_SQLITE_SENT = "SELECT chunk, message_id FROM minibot_deliveries WHERE turn_id = ?"
_SQLITE_RECORD = (
    "INSERT INTO minibot_deliveries (turn_id, chunk, message_id, at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (turn_id, chunk) DO NOTHING"
)


# The column's width; a reason is one line of an API error, longer only by accident.
_MAX_REASON_CHARS = 1000


class SqlDeliveryLedger:
    """DeliveryLedger on SQL, keyed by (turn_id, chunk); recording a chunk again keeps the
    first message id (ON CONFLICT DO NOTHING), so a retried delivery never rewrites it.
    Replies given up are kept in their own table, one row per turn."""

    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def start(self) -> None:
        await self._db.start()

    async def stop(self) -> None:
        return None

    async def sent(self, turn_id: str) -> dict[int, str]:
        def operation(conn: Connection) -> dict[int, str]:
            if conn.dialect.name == "sqlite":
                found = driver(conn).execute(_SQLITE_SENT, (turn_id,)).fetchall()
            else:
                query = select(deliveries.c.chunk, deliveries.c.message_id).where(
                    deliveries.c.turn_id == turn_id
                )
                found = list(conn.execute(query))
            return {int(chunk): message_id for chunk, message_id in found}

        return await self._db.read(operation, quick=True)

    async def record(self, turn_id: str, chunk: int, message_id: str) -> None:
        now = datetime.now(UTC)

        def operation(conn: Connection) -> None:
            if conn.dialect.name == "sqlite":
                driver(conn).execute(_SQLITE_RECORD, (turn_id, chunk, message_id, to_db(now)))
                return
            conn.execute(
                self._db.insert(deliveries)
                .values(turn_id=turn_id, chunk=chunk, message_id=message_id, at=now)
                .on_conflict_do_nothing(index_elements=[deliveries.c.turn_id, deliveries.c.chunk])
            )

        await self._db.write(operation, later=True)

    # -- retention -------------------------------------------------------------------

    async def prune(self, before: datetime, limit: int) -> int:
        """Deletes up to `limit` chunk records made before `before`; returns how many."""
        old = deliveries.c.at < before
        found = select(deliveries.c.turn_id, deliveries.c.chunk).where(old).limit(limit)

        def candidates(conn: Connection) -> list[tuple[str, int]]:
            return [(turn_id, chunk) for turn_id, chunk in conn.execute(found)]

        keys = await self._db.read(candidates)
        if not keys:
            return 0
        # By primary key, the age checked again: the writer's part is short.
        key = tuple_(deliveries.c.turn_id, deliveries.c.chunk)
        statement = delete(deliveries).where(key.in_(keys), old)

        def operation(conn: Connection) -> int:
            return conn.execute(statement).rowcount

        return await self._db.write(operation)

    async def record_failure(self, turn_id: str, reason: str) -> None:
        values = {"turn_id": turn_id, "reason": reason[:_MAX_REASON_CHARS], "at": datetime.now(UTC)}

        def operation(conn: Connection) -> None:
            conn.execute(
                self._db.insert(delivery_failures)
                .values(**values)
                .on_conflict_do_nothing(index_elements=[delivery_failures.c.turn_id])
            )

        # Rare, and worth keeping: committed at once rather than riding on a later commit.
        await self._db.write(operation)

    async def failure(self, turn_id: str) -> str | None:
        def operation(conn: Connection) -> str | None:
            query = select(delivery_failures.c.reason).where(delivery_failures.c.turn_id == turn_id)
            return conn.execute(query).scalar_one_or_none()

        return await self._db.read(operation, quick=True)
