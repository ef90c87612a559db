"""SqlInbox: updates from a channel, stored before they are acknowledged to the platform."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from minibot.adapters.memory.database import SqlDatabase
from minibot.adapters.memory.tables import inbox
from minibot.core.ports.inbox import InboxItem


class SqlInbox:
    """Inbox on SQL. A duplicate (channel, external_id) is skipped by the database itself
    (INSERT ... ON CONFLICT DO NOTHING), so concurrent adds of one update store it once.
    On SQLite concurrent adds are group-committed; each is durable when `add` returns."""

    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def start(self) -> None:
        await self._db.start()

    async def stop(self) -> None:
        return None

    async def add(
        self, channel: str, external_id: str, conversation: str, payload: str
    ) -> int | None:
        statement = (
            self._db.insert(inbox)
            .values(
                channel=channel,
                external_id=external_id,
                conversation=conversation,
                payload=payload,
                done=False,
                created_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing(index_elements=[inbox.c.channel, inbox.c.external_id])
            .returning(inbox.c.id)
        )

        async def operation(conn: AsyncConnection) -> int | None:
            return (await conn.execute(statement)).scalar_one_or_none()

        return await self._db.write(operation)

    async def pending(self, channel: str) -> list[InboxItem]:
        query = (
            select(
                inbox.c.id,
                inbox.c.channel,
                inbox.c.external_id,
                inbox.c.conversation,
                inbox.c.payload,
            )
            .where(inbox.c.channel == channel, inbox.c.done.is_(False))
            .order_by(inbox.c.id)
        )

        async def operation(conn: AsyncConnection) -> list[InboxItem]:
            return [InboxItem(*row) for row in await conn.execute(query)]

        return await self._db.read(operation)

    async def mark_done(self, item_id: int) -> None:
        statement = (
            update(inbox)
            .where(inbox.c.id == item_id, inbox.c.done.is_(False))
            .values(done=True, done_at=datetime.now(UTC))
        )

        async def operation(conn: AsyncConnection) -> None:
            await conn.execute(statement)

        await self._db.write(operation)
