"""SqlDeliveryLedger: which chunks of which reply reached the platform, and as which message."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, select

from minibot.adapters.memory.database import SqlDatabase
from minibot.adapters.memory.tables import deliveries


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
        query = select(deliveries.c.chunk, deliveries.c.message_id).where(
            deliveries.c.turn_id == turn_id
        )

        def operation(conn: Connection) -> dict[int, str]:
            return {int(chunk): message_id for chunk, message_id in conn.execute(query)}

        return await self._db.read(operation)

    async def record(self, turn_id: str, chunk: int, message_id: str) -> None:
        statement = (
            self._db.insert(deliveries)
            .values(turn_id=turn_id, chunk=chunk, message_id=message_id, at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=[deliveries.c.turn_id, deliveries.c.chunk])
        )

        def operation(conn: Connection) -> None:
            conn.execute(statement)

        await self._db.write(operation)
