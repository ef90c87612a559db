"""SqlControlQueries: the read side the control plane shows (conversations, usage, notes by id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from minibot.adapters.sql.database import SqlDatabase
from minibot.adapters.sql.tables import conversation_resets, messages, notes, usage, usage_days


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    key: str
    messages: int
    last_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    role: str
    content: str
    at: datetime


@dataclass(frozen=True, slots=True)
class UsageRow:
    owner_id: str
    model: str
    day: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class SqlControlQueries:
    """Reads across owners and conversations, for the operator; nothing here writes.
    A conversation's messages are those since its last reset (what the model sees)."""

    def __init__(self, database: SqlDatabase) -> None:
        self._db = database

    async def conversations(self, limit: int = 100) -> list[ConversationSummary]:
        query = (
            select(messages.c.conversation, func.count(), func.max(messages.c.created_at))
            .select_from(
                messages.outerjoin(
                    conversation_resets,
                    conversation_resets.c.conversation == messages.c.conversation,
                )
            )
            .where(messages.c.id > func.coalesce(conversation_resets.c.after_id, 0))
            .group_by(messages.c.conversation)
            .order_by(func.max(messages.c.created_at).desc())
            .limit(limit)
        )

        def operation(conn: Connection) -> list[ConversationSummary]:
            return [ConversationSummary(str(k), int(n), at) for k, n, at in conn.execute(query)]

        return await self._db.read(operation)

    async def messages(self, key: str, limit: int = 100) -> list[StoredMessage]:
        after = (
            select(conversation_resets.c.after_id)
            .where(conversation_resets.c.conversation == key)
            .scalar_subquery()
        )
        query = (
            select(messages.c.id, messages.c.role, messages.c.content, messages.c.created_at)
            .where(messages.c.conversation == key, messages.c.id > func.coalesce(after, 0))
            .where(messages.c.role.in_(("user", "assistant")))
            .order_by(messages.c.id.desc())
            .limit(limit)
        )

        def operation(conn: Connection) -> list[StoredMessage]:
            rows = [
                StoredMessage(int(i), str(r), str(c), at) for i, r, c, at in conn.execute(query)
            ]
            return rows[::-1]

        return await self._db.read(operation)

    async def usage(self, since: datetime, owner_id: str | None = None) -> list[UsageRow]:
        """Tokens and cost per owner, model and UTC day since `since` (rolled-up days
        included)."""
        recent = select(
            usage.c.owner_id,
            usage.c.model,
            usage.c.at,
            usage.c.prompt_tokens,
            usage.c.completion_tokens,
            usage.c.cost_usd,
        ).where(usage.c.at >= since)
        rolled = select(
            usage_days.c.owner_id,
            usage_days.c.model,
            usage_days.c.day,
            usage_days.c.requests,
            usage_days.c.prompt_tokens,
            usage_days.c.completion_tokens,
            usage_days.c.cost_usd,
        ).where(usage_days.c.day >= since)
        if owner_id is not None:
            recent = recent.where(usage.c.owner_id == owner_id)
            rolled = rolled.where(usage_days.c.owner_id == owner_id)

        def operation(conn: Connection) -> list[UsageRow]:
            sums: dict[tuple[str, str, str], list[float]] = {}
            for owner, model, at, prompt, completion, cost in conn.execute(recent):
                _add(sums, (owner, model, at.date().isoformat()), 1, prompt, completion, cost)
            for owner, model, day, requests, prompt, completion, cost in conn.execute(rolled):
                key = (owner, model, day.date().isoformat())
                _add(sums, key, requests, prompt, completion, cost)
            return [
                UsageRow(o, m, d, int(s[0]), int(s[1]), int(s[2]), round(s[3], 6))
                for (o, m, d), s in sorted(sums.items(), key=lambda item: item[0][2])
            ]

        return await self._db.read(operation)

    async def note_owner(self, note_id: int) -> tuple[str, str] | None:
        """The owner and title of a note, or None when there is no such note."""
        query = select(notes.c.owner_id, notes.c.title).where(notes.c.id == note_id)

        def operation(conn: Connection) -> tuple[str, str] | None:
            row = conn.execute(query).first()
            return None if row is None else (str(row[0]), str(row[1]))

        return await self._db.read(operation, quick=True)


def _add(
    sums: dict[tuple[str, str, str], list[float]],
    key: tuple[str, str, str],
    requests: int,
    prompt: int,
    completion: int,
    cost: float,
) -> None:
    total = sums.setdefault(key, [0, 0, 0, 0.0])
    total[0] += requests
    total[1] += prompt
    total[2] += completion
    total[3] += cost
