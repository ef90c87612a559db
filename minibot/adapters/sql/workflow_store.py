"""SqlWorkflowStore: owners' saved workflows, one row per owner and name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.tables import owner_workflows as table
from minibot.core.errors import StoreError
from minibot.core.workflows import Workflow, WorkflowInvalid, workflow_fields, workflow_from_fields


class SqlWorkflowStore:
    """WorkflowStore on SQL. Rows are read back through the same validation as the tool
    uses, so a row that no longer makes a valid workflow is an error naming it, never a
    half-built run."""

    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def start(self) -> None:
        await self._db.start()

    async def stop(self) -> None:
        return None

    async def save(self, owner_id: str, workflow: Workflow) -> None:
        row = {
            "owner_id": owner_id,
            "name": workflow.name,
            "description": workflow.description,
            "steps": json.dumps(workflow_fields(workflow), ensure_ascii=False),
            "updated_at": datetime.now(UTC),
        }

        def operation(conn: Connection) -> None:
            insert = self._db.insert(table).values(**row)
            changed = {k: row[k] for k in ("description", "steps", "updated_at")}
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[table.c.owner_id, table.c.name], set_=changed
                )
            )

        await self._db.write(operation)

    async def get(self, owner_id: str, name: str) -> Workflow | None:
        def operation(conn: Connection) -> Any:
            query = select(table).where(table.c.owner_id == owner_id, table.c.name == name)
            return conn.execute(query).first()

        row = await self._db.read(operation, quick=True)
        return _from_row(row._mapping) if row is not None else None

    async def list_for(self, owner_id: str) -> list[Workflow]:
        def operation(conn: Connection) -> Any:
            query = select(table).where(table.c.owner_id == owner_id).order_by(table.c.name)
            return conn.execute(query).all()

        rows = await self._db.read(operation)
        return [_from_row(row._mapping) for row in rows]

    async def delete(self, owner_id: str, name: str) -> bool:
        def operation(conn: Connection) -> bool:
            query = delete(table).where(table.c.owner_id == owner_id, table.c.name == name)
            return bool(conn.execute(query).rowcount)

        return await self._db.write(operation)


def _from_row(row: Any) -> Workflow:
    try:
        return workflow_from_fields(row["name"], row["description"], json.loads(row["steps"]))
    except (WorkflowInvalid, ValueError, TypeError) as exc:
        raise StoreError(f"stored workflow {row['name']!r} is not valid: {exc}") from exc
