"""SqlApprovalStore: tool calls held for the speaker's approval, in one SQL table."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select, update

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.tables import approvals
from minibot.core.approval import Approval, ApprovalState
from minibot.core.conversation import ConversationKey, ToolCall

_PENDING = str(ApprovalState.PENDING)


class SqlApprovalStore:
    """ApprovalStore on SQL. Rare writes (one per held turn and one per decision), so
    plain SQLAlchemy Core; `decide` is one conditional UPDATE, so of two decisions the
    first wins."""

    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def start(self) -> None:
        await self._db.start()

    async def stop(self) -> None:
        # The database is shared; its owner (the composition root) stops it.
        return None

    async def save(self, approval: Approval) -> None:
        row = _to_row(approval)

        def operation(conn: Connection) -> None:
            insert = self._db.insert(approvals).values(**row)
            changed = {k: v for k, v in row.items() if k != "id"}
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[approvals.c.id],
                    set_=changed,
                    where=approvals.c.state == _PENDING,
                )
            )

        await self._db.write(operation)

    async def get(self, approval_id: str) -> Approval | None:
        def operation(conn: Connection) -> Approval | None:
            found = conn.execute(select(approvals).where(approvals.c.id == approval_id)).first()
            return _from_row(found) if found is not None else None

        return await self._db.read(operation, quick=True)

    async def decide(self, approval_id: str, state: ApprovalState, turn_id: str) -> Approval | None:
        def operation(conn: Connection) -> Approval | None:
            conn.execute(
                update(approvals)
                .where(approvals.c.id == approval_id, approvals.c.state == _PENDING)
                .values(state=str(state), decided_turn=turn_id, decided_at=datetime.now(UTC))
            )
            found = conn.execute(select(approvals).where(approvals.c.id == approval_id)).first()
            return _from_row(found) if found is not None else None

        return await self._db.write(operation)

    async def pending(self) -> list[Approval]:
        def operation(conn: Connection) -> list[Approval]:
            query = (
                select(approvals)
                .where(approvals.c.state == _PENDING)
                .order_by(approvals.c.expires_at, approvals.c.id)
            )
            return [_from_row(row) for row in conn.execute(query)]

        return await self._db.read(operation)


def _to_row(approval: Approval) -> dict[str, Any]:
    return {
        "id": approval.id,
        "conversation": str(approval.conversation),
        "owner_id": approval.owner_id,
        "speaker_name": approval.speaker_name,
        "calls": json.dumps([dataclasses.asdict(call) for call in approval.calls]),
        "message_id": approval.message_id,
        "asked_at": approval.asked_at,
        "expires_at": approval.expires_at,
        "state": str(approval.state),
        "decided_turn": approval.decided_turn,
    }


def _from_row(row: Any) -> Approval:
    return Approval(
        id=row.id,
        conversation=ConversationKey.parse(row.conversation),
        owner_id=row.owner_id,
        speaker_name=row.speaker_name,
        calls=tuple(ToolCall(**call) for call in json.loads(row.calls)),
        message_id=row.message_id,
        asked_at=row.asked_at,
        expires_at=row.expires_at,
        state=ApprovalState(row.state),
        decided_turn=row.decided_turn,
    )
