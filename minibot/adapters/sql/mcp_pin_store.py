"""SqlMcpPinStore: each MCP server's approved tool list and the one waiting for approval."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.tables import mcp_pins as table
from minibot.core.mcp import McpPin, McpToolInfo


class SqlMcpPinStore:
    """McpPinStore on SQL, one row per server."""

    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def get(self, server: str) -> McpPin | None:
        def operation(conn: Connection) -> Any:
            return conn.execute(select(table).where(table.c.server == server)).first()

        row = await self._db.read(operation, quick=True)
        return _from_row(row._mapping) if row is not None else None

    async def all(self) -> list[McpPin]:
        def operation(conn: Connection) -> Any:
            return conn.execute(select(table).order_by(table.c.server)).all()

        return [_from_row(row._mapping) for row in await self._db.read(operation)]

    async def pin(
        self, server: str, fingerprint: str, tools: tuple[McpToolInfo, ...], at: datetime
    ) -> None:
        row = {
            "server": server,
            "fingerprint": fingerprint,
            "tools": _dump(tools),
            "approved_at": at,
            "pending_fingerprint": None,
            "pending_tools": None,
        }

        def operation(conn: Connection) -> None:
            insert = self._db.insert(table).values(**row)
            changed = {k: v for k, v in row.items() if k != "server"}
            conn.execute(
                insert.on_conflict_do_update(index_elements=[table.c.server], set_=changed)
            )

        await self._db.write(operation)

    async def hold(self, server: str, fingerprint: str, tools: tuple[McpToolInfo, ...]) -> None:
        def operation(conn: Connection) -> None:
            conn.execute(
                update(table)
                .where(table.c.server == server)
                .values(pending_fingerprint=fingerprint, pending_tools=_dump(tools))
            )

        await self._db.write(operation)


def _dump(tools: tuple[McpToolInfo, ...]) -> str:
    return json.dumps([t.as_json() for t in tools], ensure_ascii=False, sort_keys=True)


def _load(text: str | None) -> tuple[McpToolInfo, ...]:
    return tuple(McpToolInfo.from_json(t) for t in json.loads(text)) if text else ()


def _from_row(row: Any) -> McpPin:
    return McpPin(
        server=row["server"],
        fingerprint=row["fingerprint"],
        tools=_load(row["tools"]),
        approved_at=row["approved_at"],
        pending_fingerprint=row["pending_fingerprint"],
        pending_tools=_load(row["pending_tools"]),
    )
