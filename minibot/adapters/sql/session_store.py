"""SqlSessionStore: the dashboard's logins, one row per session, keyed by the id's hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.tables import dashboard_sessions as table
from minibot.core.dashboard_sessions import DashboardSession


class SqlSessionStore:
    """SessionStore on SQL: every replica on the database sees the same logins, and a
    restart keeps them. Nothing is cached, so a logout on one replica holds on all."""

    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def add(self, session: DashboardSession) -> None:
        row = {
            "id_hash": session.id_hash,
            "owner": session.owner,
            "csrf": session.csrf,
            "expires_at": session.expires_at,
        }

        def operation(conn: Connection) -> None:
            insert = self._db.insert(table).values(**row)
            changed = {k: row[k] for k in ("owner", "csrf", "expires_at")}
            conn.execute(
                insert.on_conflict_do_update(index_elements=[table.c.id_hash], set_=changed)
            )

        await self._db.write(operation)

    async def get(self, id_hash: str, now: datetime) -> DashboardSession | None:
        def operation(conn: Connection) -> Any:
            return conn.execute(select(table).where(table.c.id_hash == id_hash)).first()

        row = await self._db.read(operation, quick=True)
        if row is None:
            return None
        session = DashboardSession(row.id_hash, row.owner, row.csrf, row.expires_at)
        if session.expired(now):
            await self.delete(id_hash)
            return None
        return session

    async def delete(self, id_hash: str) -> bool:
        def operation(conn: Connection) -> bool:
            return bool(conn.execute(delete(table).where(table.c.id_hash == id_hash)).rowcount)

        return await self._db.write(operation)

    async def delete_expired(self, now: datetime) -> int:
        def operation(conn: Connection) -> int:
            return int(conn.execute(delete(table).where(table.c.expires_at <= now)).rowcount)

        return await self._db.write(operation)
