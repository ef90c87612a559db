"""SqlDeliveryLedger: which chunks of which reply reached the platform, and as which message."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select, tuple_

from minibot.adapters.memory.database import SqlDatabase
from minibot.adapters.memory.sqlite_fast import driver, to_db
from minibot.adapters.memory.tables import deliveries

_SQLITE_SENT = "SELECT chunk, message_id FROM minibot_deliveries WHERE turn_id = ?"
_SQLITE_RECORD = (
    "INSERT INTO minibot_deliveries (turn_id, chunk, message_id, at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (turn_id, chunk) DO NOTHING"
)


class SqlDeliveryLedger:
    """DeliveryLedger on SQL, keyed by (turn_id, chunk); recording a chunk again keeps the
    first message id (ON CONFLICT DO NOTHING), so a retried delivery never rewrites it."""

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
